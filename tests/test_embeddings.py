"""The embeddings against F.one_hot and torch.nn.Embedding; the lookup path
against the dense product."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from seqmodels import Embedding, OneHotEmbedding

F64 = torch.float64


def ids(*shape: int, high: int = 7, seed: int = 0) -> torch.Tensor:
    return torch.randint(high, shape, generator=torch.Generator().manual_seed(seed))


def test_one_hot_equals_f_one_hot() -> None:
    x = ids(3, 5)
    expected = F.one_hot(x, 7).to(torch.get_default_dtype())
    assert torch.equal(OneHotEmbedding(7)(x), expected)
    assert OneHotEmbedding(7, dtype=F64)(x).dtype == F64
    assert OneHotEmbedding(7).output_size == 7


def test_one_hot_on_any_integer_dtype() -> None:
    x = ids(2, 3).to(torch.int32)
    assert torch.equal(OneHotEmbedding(7)(x), F.one_hot(x.long(), 7).float())


@pytest.mark.parametrize("bias", [True, False])
def test_one_hot_project_is_the_dense_product(bias: bool) -> None:
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(12, 7, generator=g, dtype=F64)
    b = torch.randn(12, generator=g, dtype=F64) if bias else None
    x = ids(3, 5)
    embedding = OneHotEmbedding(7, dtype=F64)
    expected = F.linear(embedding(x), weight, b)
    torch.testing.assert_close(
        embedding.project(x, weight, b), expected, atol=1e-12, rtol=0
    )


def test_one_hot_project_gradients_equal_the_dense_ones() -> None:
    g = torch.Generator().manual_seed(2)
    weight = torch.randn(4, 7, generator=g, dtype=F64, requires_grad=True)
    x = ids(2, 6)
    OneHotEmbedding(7).project(x, weight, None).pow(2).sum().backward()
    lookup = weight.grad.clone()
    weight.grad = None
    F.linear(F.one_hot(x, 7).to(F64), weight).pow(2).sum().backward()
    torch.testing.assert_close(lookup, weight.grad, atol=1e-12, rtol=0)


def test_learned_embedding_equals_torch() -> None:
    embedding = Embedding(7, 3, generator=torch.Generator().manual_seed(0))
    reference = nn.Embedding(7, 3)
    reference.load_state_dict(embedding.state_dict())
    x = ids(2, 4)
    assert torch.equal(embedding(x), reference(x))
    weight = torch.randn(5, 3)
    torch.testing.assert_close(
        embedding.project(x, weight, None), reference(x) @ weight.T
    )


@pytest.mark.parametrize("embedding", [OneHotEmbedding(7), Embedding(7, 3)])
def test_ids_out_of_range(embedding) -> None:
    name = type(embedding).__name__
    with pytest.raises(ValueError, match=rf"{name}: ids must be in \[0, 6\] .* got 7"):
        embedding(torch.tensor([[1, 7]]))
    with pytest.raises(ValueError, match=r"got -1"):
        embedding(torch.tensor([[-1, 2]]))


@pytest.mark.parametrize("embedding", [OneHotEmbedding(7), Embedding(7, 3)])
def test_float_ids_are_a_type_error(embedding) -> None:
    with pytest.raises(
        TypeError, match=r"expected integer ids, got dtype torch\.float32"
    ):
        embedding(torch.tensor([[1.0, 2.0]]))
    with pytest.raises(TypeError, match="expected ids as a tensor, got list"):
        embedding([[1, 2]])


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="vocab_size must be at least 1, got 0"):
        OneHotEmbedding(0)
    with pytest.raises(TypeError, match="vocab_size must be an int, got float"):
        OneHotEmbedding(3.0)
    with pytest.raises(
        ValueError, match="embedding_size must be a positive integer, got 0"
    ):
        Embedding(3, 0)
    with pytest.raises(ValueError, match="expected a weight with 7 columns"):
        OneHotEmbedding(7).project(torch.tensor([[1]]), torch.zeros(4, 6), None)
