"""The saved-model artifact: round trips for every built-in piece, the
tokenizer's fingerprint, and files that must be refused."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from seqmodels import (
    CharTokenizer,
    Embedding,
    GRUCell,
    LSTMCell,
    OneHotEmbedding,
    RNNCell,
    SequenceModel,
    WordTokenizer,
    serialization,
)
from seqmodels.serialization import load_model, save_model
from seqmodels.training import CheckpointError

V = 6


def models() -> dict[str, SequenceModel]:
    g = torch.Generator().manual_seed(0)
    return {
        "rnn-relu": SequenceModel(
            OneHotEmbedding(V), RNNCell(V, 4, nonlinearity="relu", generator=g), V
        ),
        "rnn-nobias": SequenceModel(
            OneHotEmbedding(V), RNNCell(V, 4, bias=False, generator=g), V
        ),
        "lstm-proj": SequenceModel(
            OneHotEmbedding(V), LSTMCell(V, 5, proj_size=2, forget_bias=1.0), V
        ),
        "gru-before": SequenceModel(
            Embedding(V, 3, generator=g), GRUCell(3, 4, reset_after=False), V
        ),
        "lstm-f64": SequenceModel(OneHotEmbedding(V), LSTMCell(V, 3), V).double(),
    }


# The fused LSTM path (torch's own) warns about projections on oneDNN CPUs.
@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")
@pytest.mark.parametrize("name", list(models()))
def test_round_trip_gives_the_same_function(name: str, tmp_path: Path) -> None:
    model = models()[name]
    save_model(model, tmp_path)
    loaded, tokenizer = load_model(tmp_path)
    assert tokenizer is None and not loaded.training
    assert type(loaded.cell) is type(model.cell)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    ids = torch.tensor([[0, 3, 5, 1, 2]])
    assert torch.equal(loaded(ids)[0], model(ids)[0])


def test_cell_options_are_in_the_config(tmp_path: Path) -> None:
    save_model(models()["lstm-proj"], tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["cell"]["class"] == "LSTMCell"
    assert config["cell"]["args"]["proj_size"] == 2
    assert config["cell"]["args"]["forget_bias"] == 1.0
    assert config["embedding"] == {"kind": "one_hot", "vocab_size": V, "dtype": None}


def test_the_tokenizer_travels_with_the_model(tmp_path: Path) -> None:
    tokenizer = WordTokenizer().fit("나라의 말이 중국과 달라 문자와 서로")
    model = SequenceModel(OneHotEmbedding(V), LSTMCell(V, 3), V)
    folder = model.save(tmp_path / "m", tokenizer=tokenizer)
    _, back = load_model(folder)
    assert back is not None and back.encode("말이 달라") == tokenizer.encode(
        "말이 달라"
    )
    assert isinstance(SequenceModel.load(folder), SequenceModel)


def test_a_changed_vocabulary_is_refused(tmp_path: Path) -> None:
    model = SequenceModel(OneHotEmbedding(V), GRUCell(V, 3), V)
    save_model(model, tmp_path, CharTokenizer().fit("abc"))
    CharTokenizer().fit("acb").save(tmp_path / "tokenizer.json")  # another order
    with pytest.raises(ValueError, match="vocabulary changed after saving"):
        load_model(tmp_path)


def test_a_tokenizer_larger_than_the_model(tmp_path: Path) -> None:
    model = SequenceModel(OneHotEmbedding(2), GRUCell(2, 3), 2)
    with pytest.raises(ValueError, match="tokenizer has 3 tokens but the model"):
        save_model(model, tmp_path, CharTokenizer().fit("abc"))


class MyCell(nn.Module):
    input_size, hidden_size, output_size = V, 3, 3

    def initial_state(self, batch_size, *, device=None, dtype=None):  # type: ignore[no-untyped-def]
        return torch.zeros(batch_size, 3)

    def forward(self, x, state):  # type: ignore[no-untyped-def]
        return state, state


def test_a_users_cell_gets_a_clear_error(tmp_path: Path) -> None:
    model = SequenceModel(OneHotEmbedding(V), MyCell(), V)
    with pytest.raises(TypeError, match=r"cannot describe the cell MyCell.*state_dict"):
        save_model(model, tmp_path)


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def torch_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """Save weights with torch.save even where safetensors is installed."""
    monkeypatch.setattr(serialization, "_has_safetensors", lambda: False)


@pytest.mark.usefixtures("torch_format")
def test_weights_with_pickled_code_are_refused(tmp_path: Path) -> None:
    save_model(models()["rnn-relu"], tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["weights"]["format"] == "torch"
    marker = tmp_path / "ran"
    torch.save({"head.weight": Payload(marker)}, tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_model(tmp_path)
    assert not marker.exists()


@pytest.mark.usefixtures("torch_format")
def test_weights_saved_on_cuda_load_on_the_cpu(tmp_path: Path) -> None:
    model = models()["rnn-relu"]
    save_model(model, tmp_path)
    path = tmp_path / "weights.pt"
    with zipfile.ZipFile(path) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    name = next(n for n in entries if n.endswith("data.pkl"))
    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    entries[name] = entries[name].replace(cpu, cuda)
    with zipfile.ZipFile(path, "w") as target:
        for entry, data in entries.items():
            target.writestr(entry, data)
    loaded, _ = load_model(tmp_path, device="cpu")
    assert torch.equal(loaded.head.weight, model.head.weight)


def test_broken_folders(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "other", "version": 1}')
    with pytest.raises(ValueError, match="is not a seqmodels model"):
        load_model(tmp_path)
    save_model(models()["gru-before"], tmp_path)
    weights = next(
        p for p in tmp_path.iterdir() if p.name.startswith(("weights", "model"))
    )
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(tmp_path)
    with pytest.raises(TypeError, match="expected a SequenceModel"):
        save_model(nn.Linear(2, 2), tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown device"):
        load_model(tmp_path, device="gpu")


def test_weights_of_another_shape_name_the_parameter(tmp_path: Path) -> None:
    save_model(models()["rnn-relu"], tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["cell"]["args"]["hidden_size"] = 5
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        CheckpointError, match=r"'recurrent\.cell\.weight_ih' has shape"
    ):
        load_model(tmp_path)
