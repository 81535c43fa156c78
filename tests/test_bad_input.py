"""Wrong input, the way a student or a hurried practitioner gives it.

Each case must end in one clear error that names the component, what was
expected and what came (``ValueError`` for a wrong value, ``TypeError`` for a
wrong kind), never a traceback from deep inside torch or numpy and never a
silently wrong result. Cases already pinned in a module's own suite are not
repeated here.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import seqmodels
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
    Vocabulary,
    WordTokenizer,
    load_model,
    save_model,
)
from seqmodels.cli import main, windows
from seqmodels.interop import from_keras
from seqmodels.interop.torch import from_torch, state_to_torch
from seqmodels.tokenizers import load_tokenizer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CELLS = [RNNCell, LSTMCell, GRUCell]


# -- tokenizers and vocabulary ------------------------------------------------


def test_decode_of_none_is_a_type_error() -> None:
    tokenizer = WordTokenizer().fit("나라의 말이")
    with pytest.raises(TypeError, match="decode: expected a sequence of int ids"):
        tokenizer.decode(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [Vocabulary, Vocabulary.from_tokens])
def test_vocabulary_of_none_is_a_type_error(make) -> None:
    with pytest.raises(TypeError, match="Vocabulary: expected tokens as an iterable"):
        make(None)


def test_vocabulary_id_of_a_non_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Vocabulary: expected a str token, got int"):
        Vocabulary(["a", "b"]).id(1)  # type: ignore[arg-type]


def test_min_freq_of_the_wrong_kind_names_the_kind() -> None:
    with pytest.raises(TypeError, match=r"expected min_freq as int, got float$"):
        Vocabulary.from_tokens(["a"], min_freq=1.5)  # type: ignore[arg-type]


def test_loading_a_missing_or_folder_path_names_the_component(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="WordTokenizer: no such file"):
        WordTokenizer.load(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="load_tokenizer: no such file"):
        load_tokenizer(tmp_path / "missing.json")
    with pytest.raises(IsADirectoryError, match=r"Vocabulary: .* is a folder"):
        Vocabulary.load(tmp_path)
    with pytest.raises(TypeError, match="Vocabulary: expected a path"):
        Vocabulary.load(None)  # type: ignore[arg-type]


def test_targets_follow_text_order_not_vocabulary_order() -> None:
    # "할" repeats: text order and first-occurrence order differ after it.
    text = "나라의 할 말이 할 달라"
    tokenizer = WordTokenizer().fit(text)
    ids = tokenizer.encode(text)
    assert ids == [0, 1, 2, 1, 3]
    rows = windows(ids, seq_len=4)
    assert rows.tolist() == [ids]  # inputs rows[:, :-1], targets rows[:, 1:]
    assert tokenizer.decode(rows[0, 1:].tolist()) == "할 말이 할 달라"


# -- embeddings ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int16])
def test_small_integer_ids_work_in_every_embedding_path(dtype: torch.dtype) -> None:
    ids = torch.tensor([[1, 2, 0]], dtype=dtype)
    learned = Embedding(4, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(learned(ids), learned(ids.long()))
    weight = torch.randn(5, 4, dtype=torch.float64)
    one_hot = OneHotEmbedding(4)
    expected = F.one_hot(ids.long(), 4).double() @ weight.t()
    torch.testing.assert_close(one_hot.project(ids, weight, None), expected)
    model = SequenceModel(OneHotEmbedding(4), LSTMCell(4, 3), 4)
    torch.testing.assert_close(model(ids)[0], model(ids.long())[0])
    torch.testing.assert_close(model.step(ids[:, 0])[0], model(ids[:, :1])[0][:, 0])


def test_one_hot_uses_the_vocabulary_size_not_the_sequence_length() -> None:
    ids = torch.tensor([[2, 0, 1, 2, 2, 1, 0]])  # T = 7, V = 3
    out = OneHotEmbedding(3)(ids)
    assert out.shape == (1, 7, 3)
    assert torch.equal(out, F.one_hot(ids, 3).float())


def test_learned_projection_with_a_wrong_weight_names_both_shapes() -> None:
    with pytest.raises(ValueError, match="Embedding: expected a weight with 3 col"):
        Embedding(4, 3).project(torch.tensor([[1]]), torch.zeros(5, 7), None)


@pytest.mark.parametrize("dtype", ["float32", torch.long])
def test_one_hot_dtype_must_be_a_floating_torch_dtype(dtype) -> None:
    with pytest.raises(TypeError, match="OneHotEmbedding: dtype must be a floating"):
        OneHotEmbedding(3, dtype=dtype)


@pytest.mark.parametrize("size", [3.0, np.int64(3), "3", None])
def test_embedding_size_of_the_wrong_kind_is_a_type_error(size) -> None:
    with pytest.raises(TypeError, match="Embedding: vocab_size must be an int"):
        Embedding(size, 2)


# -- cells ---------------------------------------------------------------------


@pytest.mark.parametrize("cell_class", CELLS)
def test_input_dtype_other_than_the_parameters_is_named(cell_class) -> None:
    cell = cell_class(3, 2)
    with pytest.raises(
        TypeError, match=r"expected input of dtype torch.float32 .* got torch.float64"
    ):
        cell(torch.zeros(4, 3, dtype=torch.float64))
    run = Recurrent(cell_class(3, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"Recurrent\(.*\): expected input of dtype"):
        run(torch.zeros(4, 5, 3))


@pytest.mark.parametrize("cell_class", CELLS)
@pytest.mark.parametrize("size", [3.0, np.int64(3), "3", None, True])
def test_sizes_of_the_wrong_kind_are_type_errors(cell_class, size) -> None:
    with pytest.raises(TypeError, match="input_size must be an int"):
        cell_class(size, 2)


@pytest.mark.parametrize("cell_class", CELLS)
def test_options_of_the_wrong_kind_are_type_errors(cell_class) -> None:
    name = cell_class.__name__
    with pytest.raises(TypeError, match=f"{name}: bias must be a bool, got str"):
        cell_class(3, 2, bias="no")
    with pytest.raises(TypeError, match=f"{name}: generator must be a torch.Gen"):
        cell_class(3, 2, generator=0)
    with pytest.raises(TypeError, match=f"{name}: dtype must be a floating"):
        cell_class(3, 2, dtype=torch.long)


@pytest.mark.parametrize("cell_class", CELLS)
def test_initial_state_checks_the_batch_size(cell_class) -> None:
    name = cell_class.__name__
    cell = cell_class(3, 2)
    with pytest.raises(ValueError, match=f"{name}: batch_size must be >= 0, got -1"):
        cell.initial_state(-1)
    with pytest.raises(TypeError, match=f"{name}: batch_size must be an int"):
        cell.initial_state(2.0)


def test_lstm_forget_bias_must_be_a_finite_number() -> None:
    with pytest.raises(TypeError, match="LSTMCell: forget_bias must be a number"):
        LSTMCell(3, 2, forget_bias="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="LSTMCell: forget_bias must be finite"):
        LSTMCell(3, 2, forget_bias=float("nan"))


def test_gru_reset_after_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="GRUCell: reset_after must be a bool"):
        GRUCell(3, 2, reset_after="no")  # type: ignore[arg-type]


@pytest.mark.parametrize("cell_class", [RNNCell, GRUCell])
def test_a_batch_of_one_state_is_not_broadcast(cell_class) -> None:
    cell = cell_class(3, 2)
    with pytest.raises(ValueError, match="batch size 1 but the input has batch size 4"):
        cell(torch.zeros(4, 3), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="batch size 1 but the input has batch size 4"):
        Recurrent(cell)(torch.zeros(4, 5, 3), torch.zeros(1, 2))


# -- layers --------------------------------------------------------------------


class _Cell(torch.nn.Module):
    """A user's cell that says output_size 2."""

    input_size = 3
    hidden_size = 2
    output_size = 2

    def initial_state(self, batch_size: int, *, device=None, dtype=None):
        return torch.zeros(batch_size, 2)

    def forward(self, x, state):
        return state, state


class _WideCell(_Cell):
    def forward(self, x, state):
        return x, state  # 3 features, though output_size says 2


class _BareCell(_Cell):
    def forward(self, x, state):
        return state  # no (output, state) pair


def test_a_cell_whose_output_contradicts_output_size_is_caught() -> None:
    assert Recurrent(_Cell())(torch.zeros(2, 4, 3))[0].shape == (2, 4, 2)
    with pytest.raises(ValueError, match=r"output must be \[B, output_size\] ="):
        Recurrent(_WideCell())(torch.zeros(2, 4, 3))
    with pytest.raises(TypeError, match=r"must return \(output, state\), got Tensor"):
        Recurrent(_BareCell())(torch.zeros(2, 4, 3))


def test_stacked_build_checks_make_cell() -> None:
    with pytest.raises(TypeError, match=r"Stacked.build: expected make_cell as a fun"):
        Stacked.build(LSTMCell(3, 2), 3, num_layers=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Stacked.build: expected a cell"):
        Stacked.build(lambda size: object(), 3)  # type: ignore[arg-type,return-value]


# -- the model -----------------------------------------------------------------


def test_step_with_ids_of_the_wrong_kind_is_a_type_error() -> None:
    model = SequenceModel(OneHotEmbedding(5), LSTMCell(5, 3), 5)
    with pytest.raises(TypeError, match="SequenceModel: step expects ids as a tensor"):
        model.step([1])  # type: ignore[arg-type]


def test_step_on_a_bidirectional_model_is_refused() -> None:
    layer = Bidirectional(GRUCell(5, 3), GRUCell(5, 3))
    model = SequenceModel(OneHotEmbedding(5), layer, 5)
    with pytest.raises(ValueError, match="cannot run one step at a time"):
        model.step(torch.tensor([1]))


# -- interop -------------------------------------------------------------------


def test_state_to_torch_of_the_wrong_kind() -> None:
    stack = from_torch(torch.nn.LSTM(3, 2, num_layers=2))
    with pytest.raises(TypeError, match="state_to_torch: expected a tuple with a sta"):
        state_to_torch(stack, torch.zeros(2, 2))
    with pytest.raises(TypeError, match=r"each cell's state as LSTMState\(h, c\)"):
        state_to_torch(stack, (torch.zeros(2, 2), torch.zeros(2, 2)))


LSTM_WEIGHTS = [np.zeros((3, 8)), np.zeros((2, 8)), np.zeros(8)]


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        (np.zeros((3, 8)), TypeError, "expected weights as a list"),
        (None, TypeError, "expected weights as a list"),
        ([np.full((3, 8), "a"), *LSTM_WEIGHTS[1:]], TypeError, "kernel of real"),
        ([LSTM_WEIGHTS[0], None, LSTM_WEIGHTS[2]], TypeError, "recurrent_kernel of"),
        ([LSTM_WEIGHTS[0].astype(complex), *LSTM_WEIGHTS[1:]], TypeError, "real"),
        ([[[0.0] * 8, [0.0] * 7], *LSTM_WEIGHTS[1:]], ValueError, "not a rectangular"),
        ([LSTM_WEIGHTS[0] * np.nan, *LSTM_WEIGHTS[1:]], ValueError, "NaN or infinite"),
    ],
)
def test_from_keras_bad_arrays(weights, error, match: str) -> None:
    with pytest.raises(error, match=rf"from_keras\(LSTM\): .*{match}"):
        from_keras("LSTM", weights)


def test_from_keras_flags_must_be_bools() -> None:
    # bool("no") is True: a string would silently run the layer backwards.
    with pytest.raises(TypeError, match="go_backwards must be a bool, got str"):
        from_keras("LSTM", LSTM_WEIGHTS, go_backwards="no")  # type: ignore[arg-type]


# -- save_model and load_model ---------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    tokenizer = WordTokenizer().fit("나라의 말이 중국과 달라")
    model = SequenceModel(OneHotEmbedding(4), LSTMCell(4, 3), 4)
    return save_model(model, tmp_path / "model", tokenizer)


def _tamper(folder: Path, change) -> Path:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    change(config)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def test_paths_of_the_wrong_kind(saved: Path) -> None:
    with pytest.raises(TypeError, match="load_model: expected a folder path"):
        load_model(None)  # type: ignore[arg-type]
    model, _ = load_model(saved)
    with pytest.raises(TypeError, match="save_model: expected a folder path"):
        save_model(model, 5)  # type: ignore[arg-type]


def test_a_file_instead_of_a_folder(saved: Path, tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("x", encoding="utf-8")
    with pytest.raises(NotADirectoryError, match=r"load_model: .* is a file"):
        load_model(file)
    model, _ = load_model(saved)
    with pytest.raises(FileExistsError, match=r"save_model: .* is a file"):
        save_model(model, file)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: c.__setitem__("vocab_size", 4.7), "vocab_size must be an int"),
        (lambda c: c.__setitem__("vocab_size", "4"), "vocab_size must be an int"),
        (lambda c: c["cell"].__setitem__("reverse", "no"), "reverse must be true or"),
        (lambda c: c["cell"]["args"].__setitem__("bias", "false"), "bias must be a"),
        (lambda c: c.__setitem__("weights", [1]), "expected 'weights' as an object"),
        (lambda c: c.__setitem__("tokenizer", [1]), "expected 'tokenizer' as an obj"),
        (
            lambda c: c["weights"].__setitem__("file", "../other/model.safetensors"),
            "expected the weights file as a plain file name",
        ),
        (
            lambda c: c["tokenizer"].__setitem__("file", "/etc/passwd"),
            "expected the tokenizer file as a plain file name",
        ),
    ],
)
def test_a_corrupted_config_is_refused(saved: Path, change, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_model(_tamper(saved, change))


def test_a_missing_tokenizer_file_is_named(saved: Path) -> None:
    (saved / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"load_model: .* names the tokenizer"):
        load_model(saved)


def test_a_wrong_fingerprint_is_refused(saved: Path) -> None:
    _tamper(saved, lambda c: c["tokenizer"].__setitem__("fingerprint", "0" * 64))
    with pytest.raises(ValueError, match="the vocabulary changed after saving"):
        load_model(saved)


# -- the command line ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--target-loss", "nan"],
        ["--lr", "inf"],
        ["--lr", "fast"],
    ],
)
def test_train_refuses_non_finite_numbers(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "t.txt"
    text.write_text("나라의 말이", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--text", str(text), "--out", str(tmp_path / "m"), *args])
    assert exit_info.value.code == 2
    assert "expected a" in capsys.readouterr().err


def test_train_refuses_a_file_as_out_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "t.txt"
    text.write_text("나라의 말이", encoding="utf-8")
    assert main(["train", "--text", str(text), "--out", str(text)]) == 2
    captured = capsys.readouterr()
    assert "--out" in captured.err and "is a file" in captured.err
    assert "training" not in captured.out


def test_generate_names_a_bad_device_not_the_model(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", str(saved), "--prompt", "나라의", "--device", "bogus"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "unknown device 'bogus'" in err and "not a saved" not in err


def test_generate_refuses_stream_with_beam_search(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", str(saved), "--prompt", "나라의", "--stream"]
    assert main([*args, "--beam-width", "2"]) == 2
    assert "--stream" in capsys.readouterr().err


def test_generate_with_a_corrupt_folder(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(saved, broken)
    (broken / "tokenizer.json").write_bytes(b"\xff\xfe")
    assert main(["generate", str(broken), "--prompt", "나라의"]) == 2
    assert "not a JSON file" in capsys.readouterr().err


# -- the examples: bad flags are usage errors (exit 2), not tracebacks ----------


def _example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("example", "args", "match"),
    [
        ("char_lm.py", ["--stride", "0"], "--stride must be at least 1, got 0"),
        ("char_lm.py", ["--lr", "nan"], "--lr must be a positive number"),
        ("char_lm.py", ["--length", "-1"], "--length must be at least 0"),
        ("forecast.py", ["--window", "0"], "--window must be at least 1"),
        ("forecast.py", ["--length", "25"], "must exceed --window"),
        ("forecast.py", ["--noise", "nan"], "--noise must be a number >= 0"),
        ("seq2seq.py", ["--batch-size", "0"], "--batch-size must be at least 1"),
        ("seq2seq.py", ["--words", "0"], "--words must be at least 1"),
        ("hunminjeongeum.py", ["--lr", "0"], "--lr must be a positive number"),
    ],
)
def test_example_flags(
    example: str, args: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _example(example).parse_args(args)
    assert exit_info.value.code == 2
    assert match in capsys.readouterr().err


def test_custom_cell_example_flags(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["custom_cell.py", "--hidden-size", "0"])
    with pytest.raises(SystemExit) as exit_info:
        _example("custom_cell.py").main()
    assert exit_info.value.code == 2
    assert "--hidden-size must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"\xff\xfe bad", b""])
def test_char_lm_example_with_a_bad_text_file(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    assert _example("char_lm.py").main(["--text", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_char_tokenizer_unknown_character_is_named() -> None:
    with pytest.raises(ValueError, match="CharTokenizer: 'z' is not in the vocab"):
        CharTokenizer().fit("abc").encode("abz")


# --- remedies a new user needed (a fresh-user trial) ------------------------


def test_text_with_nothing_kept_suggests_another_keep_rule() -> None:
    with pytest.raises(ValueError, match=r"keep='letters' to keep words in any"):
        seqmodels.WordTokenizer().fit("hello world")


def test_a_list_of_ids_to_a_model_suggests_a_tensor() -> None:
    model = seqmodels.SequenceModel(
        seqmodels.OneHotEmbedding(3), seqmodels.LSTMCell(3, 4), 3
    )
    with pytest.raises(TypeError, match=r"torch\.tensor\(\[ids\]\), shape \[1, T\]"):
        model([0, 1])  # type: ignore[arg-type]


def test_text_to_fit_suggests_encoding_it_first() -> None:
    model = seqmodels.SequenceModel(
        seqmodels.OneHotEmbedding(3), seqmodels.LSTMCell(3, 4), 3
    )
    trainer = seqmodels.Trainer(model, num_threads=1, progress=False)
    with pytest.raises(TypeError, match="encode text with a tokenizer first"):
        trainer.fit("나라의 말이")


def test_check_cell_wants_a_function_not_a_cell() -> None:
    from seqmodels.testing import check_cell

    with pytest.raises(TypeError, match=r"a function that builds a fresh cell"):
        check_cell(seqmodels.LSTMCell(3, 4))  # type: ignore[arg-type]
