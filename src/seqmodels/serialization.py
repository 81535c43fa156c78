"""One saved-model artifact: a folder with the config, the weights and the
tokenizer, loaded without unpickling anything.

The folder holds:

- ``config.json``: how to rebuild the model (the embedding's kind and sizes,
  the recurrent layer, ``vocab_size``, the dtype), the weights file's name and
  format, and the tokenizer's vocabulary fingerprint;
- ``model.safetensors`` when the ``safetensors`` package is installed, else
  ``weights.pt``: ``torch.save`` of a plain dict of tensors, read back with
  ``weights_only=True``;
- ``tokenizer.json`` (if a tokenizer was given), written by its own ``save``.

The recurrent layer is described in one of two ways:

- one ``Recurrent`` layer (or a bare cell) as ``"cell"``: ``{"class":
  "LSTMCell", "args": {"input_size": ..., ...}, "reverse": false}``, the shape
  every version-1 file has;
- a ``Stacked`` or ``Bidirectional`` layer as ``"layer"``, a tree of nodes:
  ``{"kind": "stacked", "dropout": 0.1, "layers": [node, ...]}`` (bottom
  first), ``{"kind": "bidirectional", "forward": node, "backward": node}`` and
  the leaves ``{"kind": "recurrent", "class": ..., "args": ..., "reverse":
  ...}``. Parameter names follow the tree (``recurrent.layers.1.forward_layer.
  cell.weight_ih``), so the weights file is the model's own ``state_dict``.

Loading checks the tree before building it (each stacked layer takes the
features the one below gives, the two directions read the same input and run
the right way) and names the field that is wrong. It also checks the
tokenizer's fingerprint against the config, so that a vocabulary changed after
training is refused instead of silently mapping ids to the wrong tokens.
Tensors saved on a GPU load onto the CPU first.

Not handled: models whose cell, layer or embedding is not a built-in one (save
their ``state_dict`` and rebuild them in code).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.embeddings import Embedding, OneHotEmbedding
from seqmodels.layers import Bidirectional, Stacked
from seqmodels.model import SequenceModel
from seqmodels.protocols import Tokenizer
from seqmodels.recurrent import Recurrent
from seqmodels.training.checkpoint import (
    CheckpointError,
    atomic_save,
    check_state_dict,
    read_tensors,
)
from seqmodels.training.trainer import resolve_device
from seqmodels.vocabulary import read_json, write_json

__all__ = ["FORMAT", "VERSION", "load_model", "save_model"]

FORMAT = "seqmodels.model"
VERSION = 1

CONFIG = "config.json"
TOKENIZER = "tokenizer.json"
DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def _has_safetensors() -> bool:
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        return False
    return True


# -- the config ----------------------------------------------------------------


def _embedding_config(embedding: object) -> dict[str, Any]:
    if type(embedding) is OneHotEmbedding:
        dtype = embedding.dtype
        return {
            "kind": "one_hot",
            "vocab_size": embedding.vocab_size,
            "dtype": None if dtype is None else str(dtype).removeprefix("torch."),
        }
    if type(embedding) is Embedding:
        return {
            "kind": "learned",
            "vocab_size": embedding.vocab_size,
            "embedding_size": embedding.embedding_size,
        }
    raise TypeError(
        f"save_model: cannot describe the embedding {type(embedding).__name__} in a"
        " config; save_model knows OneHotEmbedding and Embedding. Save"
        " model.state_dict() with torch.save and rebuild the model in code"
    )


CELL_ARGS = {
    "RNNCell": ("input_size", "hidden_size", "bias", "nonlinearity"),
    "LSTMCell": ("input_size", "hidden_size", "bias", "proj_size", "forget_bias"),
    "GRUCell": ("input_size", "hidden_size", "bias", "reset_after"),
}
KINDS = ("recurrent", "bidirectional", "stacked")
MAX_DEPTH = 16  # nodes nested deeper than this are refused, not recursed into

BuiltInCell = RNNCell | LSTMCell | GRUCell
Layer = Recurrent | Stacked | Bidirectional
CELLS: dict[str, type[BuiltInCell]] = {
    "RNNCell": RNNCell,
    "LSTMCell": LSTMCell,
    "GRUCell": GRUCell,
}


def _cell_config(cell: object, reverse: bool) -> dict[str, Any]:
    """``{"class", "args", "reverse"}`` for a built-in cell."""
    if type(cell) not in (RNNCell, LSTMCell, GRUCell):
        name = type(cell).__name__
        raise TypeError(
            f"save_model: cannot describe the cell {name} in a config; save_model"
            " knows RNNCell, LSTMCell and GRUCell, alone or in Recurrent, Stacked"
            " and Bidirectional layers. For your own cell, save"
            " model.state_dict() with torch.save, rebuild the model in code and"
            " load_state_dict(torch.load(path, weights_only=True))"
        )
    assert isinstance(cell, BuiltInCell)
    args: dict[str, Any] = {
        "input_size": cell.input_size,
        "hidden_size": cell.hidden_size,
        "bias": bool(getattr(cell, "bias", True)),
    }
    if isinstance(cell, RNNCell):
        args["nonlinearity"] = cell.nonlinearity
    elif isinstance(cell, LSTMCell):
        args["proj_size"] = cell.proj_size
        args["forget_bias"] = cell.forget_bias
    elif isinstance(cell, GRUCell):
        args["reset_after"] = bool(cell.reset_after)
    return {"class": type(cell).__name__, "args": args, "reverse": reverse}


def _layer_config(layer: object) -> dict[str, Any]:
    """The ``"layer"`` tree for a ``Stacked``, ``Bidirectional`` or
    ``Recurrent`` layer of built-in cells."""
    if type(layer) is Recurrent:
        return {"kind": "recurrent", **_cell_config(layer.cell, layer.reverse)}
    if type(layer) is Bidirectional:
        return {
            "kind": "bidirectional",
            "forward": _layer_config(layer.forward_layer),
            "backward": _layer_config(layer.backward_layer),
        }
    if type(layer) is Stacked:
        return {
            "kind": "stacked",
            "dropout": layer.dropout,
            "layers": [_layer_config(below) for below in layer.layers],
        }
    raise TypeError(
        f"save_model: cannot describe the layer {type(layer).__name__} in a"
        " config; save_model knows Recurrent, Stacked and Bidirectional layers"
        " of RNNCell, LSTMCell and GRUCell. For your own layer, save"
        " model.state_dict() with torch.save, rebuild the model in code and"
        " load_state_dict(torch.load(path, weights_only=True))"
    )


def _recurrent_config(model: SequenceModel) -> dict[str, Any]:
    """``{"cell": ...}`` for one ``Recurrent`` layer (the version-1 shape, so
    such files stay as they were), else ``{"layer": ...}``."""
    layer = model.recurrent
    if type(layer) is Recurrent:
        return {"cell": _cell_config(layer.cell, layer.reverse)}
    return {"layer": _layer_config(layer)}


def _integer(value: object, what: str) -> int:
    """``value`` if it is an int (not a bool); a JSON 4.7 or "4" is refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r}")
    return value


def _object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{path} must be an object, got {json.dumps(value)[:40]}")
    return value


def _field(spec: dict[str, Any], key: str, path: str) -> Any:
    if key not in spec:
        raise ValueError(f"{path} has no field {key!r}")
    return spec[key]


def _cell_from(spec: dict[str, Any], path: str, dtype: torch.dtype) -> BuiltInCell:
    """The cell of a ``{"class", "args"}`` node, with freshly drawn weights."""
    name = _field(spec, "class", path)
    if name not in CELLS:
        raise ValueError(
            f"{path}.class must be one of {', '.join(CELLS)}, got {name!r}"
        )
    args = _object(_field(spec, "args", path), f"{path}.args")
    unknown = sorted(set(args) - set(CELL_ARGS[name]))
    if unknown:
        raise ValueError(f"{path}.args: {name} takes no argument {unknown[0]!r}")
    try:
        return CELLS[name](**args, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{path}: {error}") from None


def _reverse(spec: dict[str, Any], path: str) -> bool:
    reverse = spec.get("reverse", False)
    if not isinstance(reverse, bool):
        raise TypeError(f"{path}.reverse must be true or false, got {reverse!r}")
    return reverse


def _input_field(spec: dict[str, Any], path: str) -> str:
    """Where a (checked) node's input size is written: its bottom cell's
    ``args.input_size``."""
    kind = spec.get("kind", "recurrent")
    if kind == "stacked":
        return _input_field(spec["layers"][0], f"{path}.layers[0]")
    if kind == "bidirectional":
        return _input_field(spec["forward"], f"{path}.forward")
    return f"{path}.args.input_size"


def _layer_from(spec: object, path: str, dtype: torch.dtype, depth: int = 0) -> Layer:
    """The layer a ``"layer"`` node describes, checked before it is built."""
    spec = _object(spec, path)
    if depth > MAX_DEPTH:
        raise ValueError(f"{path}: layers nested more than {MAX_DEPTH} deep")
    kind = _field(spec, "kind", path)
    if kind == "recurrent":
        return Recurrent(_cell_from(spec, path, dtype), reverse=_reverse(spec, path))

    if kind == "bidirectional":
        f_path, b_path = f"{path}.forward", f"{path}.backward"
        forward = _layer_from(_field(spec, "forward", path), f_path, dtype, depth + 1)
        backward = _layer_from(_field(spec, "backward", path), b_path, dtype, depth + 1)
        if not forward.causal:
            raise ValueError(
                f'{f_path} must run forwards ("reverse": false), but it runs in reverse'
            )
        if backward.causal:
            raise ValueError(
                f'{b_path} must run in reverse ("reverse": true), but it runs forwards'
            )
        if forward.input_size != backward.input_size:
            raise ValueError(
                f"{_input_field(spec['backward'], b_path)} is"
                f" {backward.input_size}, but"
                f" {_input_field(spec['forward'], f_path)} is {forward.input_size};"
                " both directions read the same input"
            )
        return Bidirectional(forward, backward)

    if kind == "stacked":
        dropout = _field(spec, "dropout", path)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not 0.0 <= dropout < 1.0
        ):
            raise ValueError(
                f"{path}.dropout must be a number in [0, 1), got {dropout!r}"
            )
        specs = _field(spec, "layers", path)
        if not isinstance(specs, list) or not specs:
            raise ValueError(
                f"{path}.layers must be a non-empty list of layers, got"
                f" {json.dumps(specs)[:40]}"
            )
        layers: list[Layer] = []
        for k, below in enumerate(specs):
            layer = _layer_from(below, f"{path}.layers[{k}]", dtype, depth + 1)
            if layers and layer.input_size != layers[-1].output_size:
                raise ValueError(
                    f"{_input_field(below, f'{path}.layers[{k}]')} is"
                    f" {layer.input_size}, but {path}.layers[{k - 1}] gives"
                    f" {layers[-1].output_size} features; each layer's input size"
                    " must equal the output size of the layer below"
                )
            layers.append(layer)
        return Stacked(layers, dropout=dropout)

    raise ValueError(
        f"{path}.kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}"
    )


def _build(config: dict[str, Any], where: str) -> SequenceModel:
    """The model a config describes, with freshly drawn weights."""
    try:
        dtype = DTYPES[config["dtype"]]
        spec = config["embedding"]
        embedding: OneHotEmbedding | Embedding
        if spec["kind"] == "one_hot":
            one_hot_dtype = spec.get("dtype")
            embedding = OneHotEmbedding(
                _integer(spec["vocab_size"], "embedding.vocab_size"),
                dtype=None if one_hot_dtype is None else DTYPES[one_hot_dtype],
            )
        elif spec["kind"] == "learned":
            embedding = Embedding(
                _integer(spec["vocab_size"], "embedding.vocab_size"),
                _integer(spec["embedding_size"], "embedding.embedding_size"),
                dtype=dtype,
            )
        else:
            raise ValueError(f"unknown embedding kind {spec['kind']!r}")

        # The recurrent layer: one cell (version 1's shape) or a tree of layers.
        if ("cell" in config) == ("layer" in config):
            raise ValueError(
                "expected exactly one of the fields 'cell' and 'layer', got"
                f" {'both' if 'cell' in config else 'neither'}"
            )
        layer: Layer
        if "cell" in config:
            cell_spec = _object(config["cell"], "cell")
            cell = _cell_from(cell_spec, "cell", dtype)
            layer = Recurrent(cell, reverse=_reverse(cell_spec, "cell"))
            field = "cell.args.input_size"
        else:
            layer = _layer_from(config["layer"], "layer", dtype)
            field = _input_field(config["layer"], "layer")
        if layer.input_size != embedding.output_size:
            raise ValueError(
                f"{field} is {layer.input_size}, but the embedding gives"
                f" {embedding.output_size} features"
            )
        model = SequenceModel(
            embedding, layer, _integer(config["vocab_size"], "vocab_size")
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"load_model: {where} does not describe a model seqmodels can build"
            f" ({type(error).__name__}: {error})"
        ) from None
    return model.to(dtype)


# -- saving and loading --------------------------------------------------------


def save_model(
    model: SequenceModel,
    directory: str | Path,
    tokenizer: Tokenizer | None = None,
) -> Path:
    """Save ``model`` (and ``tokenizer``) as one folder; returns its path.

    The folder is created if needed; files of an earlier save are replaced,
    each atomically, with ``config.json`` written last.

    >>> import tempfile
    >>> from seqmodels import GRUCell, OneHotEmbedding, SequenceModel
    >>> model = SequenceModel(OneHotEmbedding(5), GRUCell(5, 3), vocab_size=5)
    >>> folder = save_model(model, tempfile.mkdtemp())
    >>> loaded, tokenizer = load_model(folder)
    >>> type(loaded.cell).__name__, tokenizer
    ('GRUCell', None)
    """
    if not isinstance(model, SequenceModel):
        raise TypeError(
            f"save_model: expected a SequenceModel, got {type(model).__name__}"
        )
    folder = _folder(directory, "save_model")
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(
            f"save_model: {folder} is a file; expected a folder (new or existing)"
        )
    config: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "embedding": _embedding_config(model.embedding),
        **_recurrent_config(model),
        "vocab_size": model.vocab_size,
        "dtype": str(model.head.weight.dtype).removeprefix("torch."),
        "tokenizer": None,
    }
    if config["dtype"] not in DTYPES:
        raise ValueError(f"save_model: cannot save weights of dtype {config['dtype']}")
    folder.mkdir(parents=True, exist_ok=True)

    # The tokenizer, with the fingerprint of its vocabulary.
    if tokenizer is not None:
        if not hasattr(tokenizer, "save") or not hasattr(
            tokenizer.vocab, "fingerprint"
        ):
            raise TypeError(
                "save_model: the tokenizer needs save(path) and a vocabulary with"
                f" a fingerprint (the built-in tokenizers), got"
                f" {type(tokenizer).__name__}"
            )
        if len(tokenizer.vocab) > model.vocab_size:
            raise ValueError(
                f"save_model: the tokenizer has {len(tokenizer.vocab)} tokens but"
                f" the model scores only {model.vocab_size}"
            )
        tokenizer.save(folder / TOKENIZER)
        config["tokenizer"] = {
            "file": TOKENIZER,
            "fingerprint": tokenizer.vocab.fingerprint,
        }

    # The weights: plain tensors on the CPU, contiguous.
    tensors = {
        name: value.detach().to("cpu").contiguous()
        for name, value in model.state_dict().items()
    }
    if _has_safetensors():
        import safetensors.torch

        weights = {"file": "model.safetensors", "format": "safetensors"}
        fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        os.close(fd)
        try:
            safetensors.torch.save_file(tensors, temporary)
            os.replace(temporary, folder / weights["file"])
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    else:
        weights = {"file": "weights.pt", "format": "torch"}
        atomic_save(tensors, folder / weights["file"])
    config["weights"] = weights
    write_json(folder / CONFIG, config)
    return folder


def load_model(
    directory: str | Path, *, device: str = "cpu"
) -> tuple[SequenceModel, Tokenizer | None]:
    """Load a folder written by ``save_model``: ``(model, tokenizer or None)``.

    The model is in evaluation mode, on ``device`` (``"cpu"``, ``"cuda"``,
    ``"auto"``, ...). Raises ``ValueError`` (``CheckpointError`` for the
    weights) for a folder that is incomplete, corrupt, of another format,
    holding pickled code, or whose tokenizer does not match the weights.
    """
    folder = _folder(directory, "load_model")
    target = resolve_device(device, name="load_model")
    config_path = folder / CONFIG
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"load_model: {folder} is a file; expected a folder written by save_model"
        )
    if not config_path.is_file():
        raise FileNotFoundError(
            f"load_model: no {CONFIG} in {folder}; is it a folder written by"
            " save_model?"
        )
    config = read_json(config_path, "load_model")
    if (
        not isinstance(config, dict)
        or config.get("format") != FORMAT
        or config.get("version") != VERSION
    ):
        got = (
            f"format {config.get('format')!r} version {config.get('version')!r}"
            if isinstance(config, dict)
            else json.dumps(config)[:40]
        )
        raise ValueError(
            f"load_model: {config_path} is not a seqmodels model: expected format"
            f" {FORMAT!r} version {VERSION}, got {got}"
        )
    model = _build(config, str(config_path))

    # The weights, read without unpickling anything.
    weights = config.get("weights") or {}
    if not isinstance(weights, dict):
        raise ValueError(
            f"load_model: {config_path}: expected 'weights' as an object,"
            f" got {type(weights).__name__}"
        )
    path = _member(folder, weights.get("file"), config_path, "weights")
    if weights.get("format") == "safetensors":
        if not _has_safetensors():
            raise ImportError(
                f"load_model: {path} is in safetensors format; install it with"
                " pip install safetensors"
            )
        import safetensors.torch

        try:
            state: Any = safetensors.torch.load_file(str(path), device="cpu")
        except Exception as error:
            raise CheckpointError(
                f"load_model: cannot read {path}: the file is missing, truncated or"
                f" corrupt ({type(error).__name__}: {error})"
            ) from None
    elif weights.get("format") == "torch":
        state = read_tensors(path, "load_model")
    else:
        raise ValueError(
            f"load_model: {config_path} names no weights file in a known format,"
            f" got {weights!r}"
        )
    if not isinstance(state, dict) or not all(
        isinstance(v, Tensor) for v in state.values()
    ):
        raise CheckpointError(f"load_model: {path} is not a dict of tensors")
    check_state_dict(model, state, str(path), "load_model")
    _load_weights(model, state)

    # The tokenizer, checked against the vocabulary the weights were saved with.
    tokenizer = None
    spec = config.get("tokenizer")
    if spec is not None:
        from seqmodels.tokenizers import load_tokenizer

        if not isinstance(spec, dict):
            raise ValueError(
                f"load_model: {config_path}: expected 'tokenizer' as an object or"
                f" null, got {type(spec).__name__}"
            )
        file = spec.get("file", TOKENIZER)
        tokenizer_path = _member(folder, file, config_path, "tokenizer")
        if not tokenizer_path.is_file():
            raise FileNotFoundError(
                f"load_model: {config_path} names the tokenizer file {file!r},"
                f" but there is no {tokenizer_path}; the folder is incomplete"
            )
        tokenizer = load_tokenizer(tokenizer_path)
        found = tokenizer.vocab.fingerprint
        if found != spec.get("fingerprint"):
            raise ValueError(
                f"load_model: the tokenizer in {tokenizer_path} has vocabulary"
                f" fingerprint {found[:12]}..., but the weights were saved with"
                f" {str(spec.get('fingerprint'))[:12]}...; the vocabulary changed"
                " after saving and ids would map to the wrong tokens. Save the"
                " model again with the tokenizer it was trained with"
            )
    return model.to(target).eval(), tokenizer


def _folder(directory: object, name: str) -> Path:
    if isinstance(directory, bool) or not isinstance(directory, str | os.PathLike):
        raise TypeError(
            f"{name}: expected a folder path (str or os.PathLike),"
            f" got {type(directory).__name__}"
        )
    return Path(directory)


def _member(folder: Path, file: object, config_path: Path, what: str) -> Path:
    """``folder / file`` for a plain file name from the config; a name with a
    folder in it (``../x``) could point anywhere, so it is refused."""
    if not isinstance(file, str) or file in ("", ".", "..") or Path(file).name != file:
        raise ValueError(
            f"load_model: {config_path}: expected the {what} file as a plain file"
            f" name inside the folder, got {file!r}"
        )
    return folder / file


def _load_weights(model: nn.Module, state: dict[str, Tensor]) -> None:
    with torch.no_grad():
        model.load_state_dict(state)
