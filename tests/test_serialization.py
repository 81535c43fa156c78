"""The saved-model artifact: round trips for every built-in piece (stacks and
both directions included), version-1 files, the tokenizer's fingerprint, and
files that must be refused."""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from seqmodels import (
    Bidirectional,
    CharTokenizer,
    Embedding,
    GRUCell,
    LSTMCell,
    OneHotEmbedding,
    Recurrent,
    RNNCell,
    SequenceModel,
    Stacked,
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


# -- stacks and both directions --------------------------------------------------


def stacks() -> dict[str, SequenceModel]:
    """Float64 models over every kind of layer tree save_model describes."""
    g = torch.Generator().manual_seed(1)
    one_hot = OneHotEmbedding(V)

    def lstm(size: int) -> LSTMCell:
        return LSTMCell(size, 4, forget_bias=1.0, generator=g)

    def gru(size: int) -> GRUCell:
        return GRUCell(size, 3, reset_after=False, generator=g)

    mixed = Stacked(
        [
            Recurrent(RNNCell(V, 4, nonlinearity="relu", generator=g)),
            Bidirectional(
                LSTMCell(4, 3, proj_size=2, generator=g),
                GRUCell(4, 5, bias=False, generator=g),
            ),
            Recurrent(GRUCell(7, 3, generator=g), reverse=True),
        ],
        dropout=0.3,
    )
    both_ways_of_stacks = Bidirectional(
        Stacked([gru(V), gru(3)], dropout=0.5),
        Stacked([Recurrent(gru(V), reverse=True), Recurrent(gru(3), reverse=True)]),
    )
    layers: dict[str, Stacked | Bidirectional] = {
        "lstm-3-layers": Stacked.build(lstm, V, num_layers=3, dropout=0.25),
        "gru-2-layers-bidirectional": Stacked.build(
            gru, V, num_layers=2, bidirectional=True, dropout=0.1
        ),
        "one-layer-stack": Stacked([RNNCell(V, 3, bias=False, generator=g)]),
        "mixed": mixed,
        "bidirectional": Bidirectional(lstm(V), RNNCell(V, 2, generator=g)),
        "bidirectional-of-stacks": both_ways_of_stacks,
    }
    models = {
        name: SequenceModel(one_hot, layer, V, generator=g)
        for name, layer in layers.items()
    }
    models["learned-embedding"] = SequenceModel(
        Embedding(V, 3, generator=g), Stacked.build(gru, 3, num_layers=2), V
    )
    return {name: model.double() for name, model in models.items()}


def flat(state: object) -> list[torch.Tensor]:
    """The tensors of a nested state, in order."""
    if isinstance(state, torch.Tensor):
        return [state]
    assert isinstance(state, tuple), type(state)
    return [t for part in state for t in flat(part)]


def assert_same(a: object, b: object) -> None:
    """Two nested states (or tensors) hold equal tensors of one structure."""
    assert type(a) is type(b)
    left, right = flat(a), flat(b)
    assert len(left) == len(right)
    for x, y in zip(left, right, strict=True):
        assert x.dtype == y.dtype == torch.float64
        assert torch.equal(x, y)


IDS = torch.tensor([[0, 3, 5, 1, 2, 4], [2, 2, 0, 5, 1, 3]])
LENGTHS = torch.tensor([6, 4])


@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")
@pytest.mark.parametrize("weights", ["safetensors", "torch"])
@pytest.mark.parametrize("name", list(stacks()))
def test_stacks_round_trip_exactly(
    name: str, weights: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if weights == "torch":
        monkeypatch.setattr(serialization, "_has_safetensors", lambda: False)
    else:
        pytest.importorskip("safetensors")  # the extra; CI installs it
    model = stacks()[name].eval()
    save_model(model, tmp_path)
    loaded, _ = load_model(tmp_path)

    # The same structure, options and weights, in one config and one weights file.
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["version"] == 1 and "cell" not in config
    assert config["weights"]["format"] == weights
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["config.json", config["weights"]["file"]]
    )
    assert repr(loaded) == repr(model)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    # The same outputs and states: whole, padded, and continued from a state.
    for lengths in (None, LENGTHS):
        logits, state = model(IDS, lengths=lengths)
        back, back_state = loaded(IDS, lengths=lengths)
        assert torch.equal(back, logits)
        assert_same(back_state, state)
    _, state = model(IDS[:, :3])
    logits, state = model(IDS[:, 3:], state)
    _, back_state = loaded(IDS[:, :3])
    back, back_state = loaded(IDS[:, 3:], back_state)
    assert torch.equal(back, logits)
    assert_same(back_state, state)


def test_dropout_is_restored(tmp_path: Path) -> None:
    model = stacks()["mixed"]
    save_model(model, tmp_path)
    loaded, _ = load_model(tmp_path)
    assert isinstance(loaded.recurrent, Stacked) and loaded.recurrent.dropout == 0.3

    # In training mode, the same seed drops the same features.
    outputs = []
    for each in (model.train(), loaded.train()):
        with torch.random.fork_rng():
            torch.manual_seed(7)
            outputs.append(each(IDS)[0])
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[0], model.eval()(IDS)[0])


@pytest.mark.parametrize("name", ["lstm-3-layers", "one-layer-stack"])
def test_a_causal_stack_steps_as_before(name: str, tmp_path: Path) -> None:
    model = stacks()[name].eval()
    save_model(model, tmp_path)
    loaded, _ = load_model(tmp_path)
    whole, whole_state = model(IDS)
    state: Any = None
    back_state: Any = None
    for t in range(IDS.shape[1]):
        logits, state = model.step(IDS[:, t], state)
        back, back_state = loaded.step(IDS[:, t], back_state)
        assert torch.equal(back, logits)
        assert_same(back_state, state)
        torch.testing.assert_close(back, whole[:, t], rtol=0, atol=1e-12)
    for x, y in zip(flat(back_state), flat(whole_state), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["gru-2-layers-bidirectional", "mixed"])
def test_a_stack_that_sees_ahead_still_refuses_to_step(
    name: str, tmp_path: Path
) -> None:
    save_model(stacks()[name], tmp_path)
    loaded, _ = load_model(tmp_path)
    with pytest.raises(ValueError, match="cannot run one step at a time"):
        loaded.step(IDS[:, 0])


def test_the_layer_tree_in_the_config(tmp_path: Path) -> None:
    save_model(stacks()["gru-2-layers-bidirectional"], tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())

    def gru(size: int, reverse: bool) -> dict[str, Any]:
        args = {"input_size": size, "hidden_size": 3, "bias": True}
        return {
            "kind": "recurrent",
            "class": "GRUCell",
            "args": {**args, "reset_after": False},
            "reverse": reverse,
        }

    def both(size: int) -> dict[str, Any]:
        return {
            "kind": "bidirectional",
            "forward": gru(size, False),
            "backward": gru(size, True),
        }

    assert config["layer"] == {
        "kind": "stacked",
        "dropout": 0.1,
        "layers": [both(V), both(6)],
    }


# -- version-1 files -------------------------------------------------------------

# config.json as save_model wrote it before stacks could be saved (weights.pt).
VERSION_1_CONFIG = """{
 "format": "seqmodels.model",
 "version": 1,
 "embedding": {"kind": "learned", "vocab_size": 6, "embedding_size": 3},
 "cell": {
  "class": "GRUCell",
  "args": {"input_size": 3, "hidden_size": 4, "bias": true, "reset_after": false},
  "reverse": true
 },
 "vocab_size": 6,
 "dtype": "float64",
 "tokenizer": null,
 "weights": {"file": "weights.pt", "format": "torch"}
}"""


def version_1_model() -> SequenceModel:
    g = torch.Generator().manual_seed(2)
    cell = GRUCell(3, 4, reset_after=False, generator=g)
    embedding = Embedding(6, 3, generator=g)
    return SequenceModel(embedding, Recurrent(cell, reverse=True), 6).double()


def test_a_version_1_file_still_loads(tmp_path: Path) -> None:
    model = version_1_model().eval()
    (tmp_path / "config.json").write_text(VERSION_1_CONFIG)
    torch.save(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        tmp_path / "weights.pt",
    )
    loaded, _ = load_model(tmp_path)
    assert repr(loaded) == repr(model)
    logits, state = model(IDS)
    back, back_state = loaded(IDS)
    assert torch.equal(back, logits) and torch.equal(back_state, state)


@pytest.mark.usefixtures("torch_format")
def test_one_layer_is_still_saved_as_version_1(tmp_path: Path) -> None:
    save_model(version_1_model(), tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written == json.loads(VERSION_1_CONFIG)


# -- what cannot be saved, and configs that do not add up -------------------------


class MyLayer(nn.Module):
    """A user's sequence layer: the first 3 features of each step."""

    input_size, output_size = V, 3

    def initial_state(
        self, batch_size: int, *, device: object = None, dtype: object = None
    ) -> torch.Tensor:
        return torch.zeros(batch_size, 3)

    def forward(
        self, xs: torch.Tensor, state: object = None, lengths: object = None
    ) -> tuple[torch.Tensor, object]:
        return xs[..., :3], state


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Stacked([LSTMCell(V, V), MyCell()]), "the cell MyCell"),
        (lambda: Stacked([MyCell(), GRUCell(3, 2)]), "the cell MyCell"),
        (lambda: Bidirectional(MyCell(), LSTMCell(V, 3)), "the cell MyCell"),
        (
            lambda: Stacked([RNNCell(V, V), Bidirectional(RNNCell(V, 3), MyCell())]),
            "the cell MyCell",
        ),
        (MyLayer, "the layer MyLayer"),
        (lambda: Stacked([MyLayer(), GRUCell(3, 2)]), "the layer MyLayer"),
    ],
)
def test_a_users_cell_or_layer_in_a_stack(
    make: Callable[[], nn.Module], match: str, tmp_path: Path
) -> None:
    model = SequenceModel(OneHotEmbedding(V), make(), V)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"cannot describe {match}.*state_dict"):
        save_model(model, tmp_path)
    assert not (tmp_path / "config.json").exists()


Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: object) -> Change:
    """Set a field given as ``layer.layers[1].args.input_size``."""

    def change(config: dict[str, Any]) -> None:
        keys: list[Any] = [
            int(k) if k.isdigit() else k for k in re.findall(r"\w+", path)
        ]
        target: Any = config
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def _nest(config: dict[str, Any]) -> None:
    node = config["layer"]
    for _ in range(20):
        node = {"kind": "stacked", "dropout": 0.0, "layers": [node]}
    config["layer"] = node


L1 = "layer.layers[1]"
BAD_STACKS: list[tuple[Change, str]] = [
    # Sizes that do not chain.
    (
        _set(f"{L1}.backward.args.input_size", 5),
        f"{L1}.backward.args.input_size is 5, but {L1}.forward.args.input_size"
        " is 4; both directions read the same input",
    ),
    (
        _set("layer.layers[0].args.hidden_size", 5),
        f"{L1}.forward.args.input_size is 4, but layer.layers[0] gives 5 features",
    ),
    (
        _set("layer.layers[2].args.input_size", 8),
        "layer.layers[2].args.input_size is 8, but layer.layers[1] gives 7",
    ),
    (
        _set("layer.layers[0].args.input_size", 5),
        "layer.layers[0].args.input_size is 5, but the embedding gives 6 features",
    ),
    # Directions.
    (
        _set(f"{L1}.backward.reverse", False),
        f"{L1}.backward must run in reverse",
    ),
    (_set(f"{L1}.forward.reverse", True), f"{L1}.forward must run forwards"),
    (
        _set("layer.layers[2].reverse", "yes"),
        "layer.layers[2].reverse must be true or false",
    ),
    # Fields missing, of the wrong kind or out of range.
    (_set("layer.layers[2].kind", "lstm"), "layer.layers[2].kind must be one of"),
    (lambda c: c["layer"]["layers"][0].pop("kind"), "layers[0] has no field 'kind'"),
    (lambda c: c["layer"].pop("dropout"), "layer has no field 'dropout'"),
    (_set("layer.layers[0]", 3), "layer.layers[0] must be an object"),
    (_set("layer.layers", []), "layer.layers must be a non-empty list of layers"),
    (_set("layer.layers", {}), "layer.layers must be a non-empty list of layers"),
    (_set("layer.dropout", 1.0), "layer.dropout must be a number in [0, 1), got 1.0"),
    (_set("layer.dropout", "0.1"), "layer.dropout must be a number in [0, 1)"),
    (_set("layer.dropout", True), "layer.dropout must be a number in [0, 1)"),
    (_set("layer.layers[0].class", "LSTM"), "layer.layers[0].class must be one of"),
    (
        _set("layer.layers[0].args.device", "cuda"),
        "layer.layers[0].args: RNNCell takes no argument 'device'",
    ),
    (
        _set("layer.layers[0].args.nonlinearity", "gelu"),
        "layer.layers[0]: RNNCell: nonlinearity must be 'tanh' or 'relu'",
    ),
    (_set(f"{L1}.forward.args.proj_size", 2.5), f"{L1}.forward: LSTMCell:"),
    (_set("cell", {}), "exactly one of the fields 'cell' and 'layer', got both"),
    (lambda c: c.pop("layer"), "exactly one of the fields 'cell' and 'layer', got"),
    (_nest, "layers nested more than 16 deep"),
]


@pytest.mark.parametrize(("change", "match"), BAD_STACKS)
def test_an_inconsistent_stack_is_refused(
    change: Change, match: str, tmp_path: Path
) -> None:
    save_model(stacks()["mixed"], tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    change(config)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not describe a model") as error:
        load_model(tmp_path)
    assert match in str(error.value)


def test_a_single_cell_of_the_wrong_size_names_the_field(tmp_path: Path) -> None:
    save_model(models()["rnn-relu"], tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["cell"]["args"]["input_size"] = 5
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ValueError, match=r"cell\.args\.input_size is 5, but the embedding gives 6"
    ):
        load_model(tmp_path)
