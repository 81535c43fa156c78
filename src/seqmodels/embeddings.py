"""Embeddings: integer ids ``[B, T]`` to vectors ``[B, T, E]``."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["Embedding", "OneHotEmbedding", "check_ids"]


def _index(ids: Tensor) -> Tensor:
    """``ids`` in a dtype ``F.embedding`` takes (int32 or int64)."""
    return ids if ids.dtype in (torch.int32, torch.int64) else ids.long()


def check_ids(name: str, ids: Tensor, vocab_size: int) -> None:
    """Raise a clear error unless ``ids`` is an integer tensor of valid ids."""
    if not isinstance(ids, Tensor):
        raise TypeError(
            f"{name}: expected ids as a tensor, got {type(ids).__name__}"
            " (for one sequence of ids: torch.tensor([ids]), shape [1, T])"
        )
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"{name}: expected integer ids, got dtype {ids.dtype}")
    if ids.numel():
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(
                f"{name}: ids must be in [0, {vocab_size - 1}]"
                f" for a vocabulary of {vocab_size}, got {bad}"
            )


class OneHotEmbedding(nn.Module):
    """One-hot vectors: id ``k`` becomes the ``k``-th unit vector of size ``V``.

    It has no parameters. Called on ids ``[B, T]`` it returns ``[B, T, V]``
    floats, equal to ``torch.nn.functional.one_hot``. Inside a model it is never
    built: a one-hot vector times a matrix is a column of the matrix, so
    ``project`` looks the columns up, ``[B, T, G]``, in memory independent of
    ``V``.

    >>> import torch
    >>> OneHotEmbedding(4)(torch.tensor([[2, 0]]))
    tensor([[[0., 0., 1., 0.],
             [1., 0., 0., 0.]]])
    """

    def __init__(self, vocab_size: int, *, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise TypeError(
                "OneHotEmbedding: vocab_size must be an int,"
                f" got {type(vocab_size).__name__}"
            )
        if vocab_size < 1:
            raise ValueError(
                f"OneHotEmbedding: vocab_size must be at least 1, got {vocab_size}"
            )
        if dtype is not None and (
            not isinstance(dtype, torch.dtype) or not dtype.is_floating_point
        ):
            raise TypeError(
                "OneHotEmbedding: dtype must be a floating torch.dtype such as"
                f" torch.float32, got {dtype!r}"
            )
        self.vocab_size = vocab_size
        self.dtype = dtype

    @property
    def output_size(self) -> int:
        """``E = V``."""
        return self.vocab_size

    def forward(self, ids: Tensor) -> Tensor:
        """Ids ``[...]`` (integers in ``[0, V)``) to one-hot floats ``[..., V]``."""
        check_ids("OneHotEmbedding", ids, self.vocab_size)
        dtype = self.dtype or torch.get_default_dtype()
        return F.one_hot(ids.long(), self.vocab_size).to(dtype)

    def project(self, ids: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """``one_hot(ids) @ weight.T + bias`` as a column lookup, ``[..., G]``.

        ``weight`` is ``[G, V]``; no ``[..., V]`` tensor is made.
        """
        check_ids("OneHotEmbedding", ids, self.vocab_size)
        if weight.shape[-1] != self.vocab_size:
            raise ValueError(
                f"OneHotEmbedding: expected a weight with {self.vocab_size} columns,"
                f" got shape {list(weight.shape)}"
            )
        columns = F.embedding(_index(ids), weight.t())
        return columns if bias is None else columns + bias

    def extra_repr(self) -> str:
        return str(self.vocab_size)


class Embedding(nn.Module):
    """A learned embedding: id ``k`` becomes row ``k`` of ``weight [V, E]``.

    Rows start standard normal, as in ``torch.nn.Embedding``; pass a
    ``torch.Generator`` to draw them reproducibly.

    >>> import torch
    >>> emb = Embedding(10, 3, generator=torch.Generator().manual_seed(0))
    >>> emb(torch.tensor([[1, 2]])).shape
    torch.Size([1, 2, 3])
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("vocab_size", vocab_size),
            ("embedding_size", embedding_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"Embedding: {arg} must be an int, got {type(value).__name__}"
                )
            if value < 1:
                raise ValueError(
                    f"Embedding: {arg} must be a positive integer, got {value!r}"
                )
        self.vocab_size = vocab_size
        self.embedding_size = embedding_size
        self.weight = nn.Parameter(
            torch.empty(vocab_size, embedding_size, device=device, dtype=dtype)
        )
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw the rows standard normal."""
        with torch.no_grad():
            self.weight.normal_(generator=generator)

    @property
    def output_size(self) -> int:
        """``E``, the embedding size."""
        return self.embedding_size

    def forward(self, ids: Tensor) -> Tensor:
        """Ids ``[...]`` to vectors ``[..., E]``."""
        check_ids("Embedding", ids, self.vocab_size)
        return F.embedding(_index(ids), self.weight)

    def project(self, ids: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """``self(ids) @ weight.T + bias``, ``[..., G]``; ``weight`` is ``[G, E]``."""
        if weight.dim() != 2 or weight.shape[-1] != self.embedding_size:
            raise ValueError(
                f"Embedding: expected a weight with {self.embedding_size} columns,"
                f" got shape {list(weight.shape)}"
            )
        return F.linear(self(ids), weight, bias)

    def extra_repr(self) -> str:
        return f"{self.vocab_size}, {self.embedding_size}"
