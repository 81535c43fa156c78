"""SequenceDecoder: each strategy against small hand-made distributions.

Most tests use a Markov model with fixed transition scores: a cell whose
state is the current token (one-hot) and a head whose weight is the score
table, so ``P(next | current)`` is known exactly and every answer can be
worked out by hand or by enumerating all sequences.
"""

from __future__ import annotations

import itertools
import math
import unicodedata

import pytest
import torch
from torch import Tensor, nn

from seqmodels import (
    CharTokenizer,
    JamoTokenizer,
    LSTMCell,
    OneHotEmbedding,
    SequenceDecoder,
    SequenceModel,
    WordTokenizer,
)
from seqmodels.decoding import apply_repetition_penalty, top_k_filter, top_p_filter

WORDS = "가 나 다 라"  # ids 0, 1, 2, 3 in first-occurrence order


class MarkovCell(nn.Module):
    """State and output are the current token's one-hot vector; counts calls."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.input_size = self.hidden_size = vocab_size
        self.calls = 0

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_state(self, batch_size, *, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        self.calls += 1
        return x, x


def markov_model(scores: Tensor) -> SequenceModel:
    """A model whose logits after token ``i`` are ``scores[i]`` ``[V, V]``."""
    vocab = scores.shape[0]
    model = SequenceModel(
        OneHotEmbedding(vocab, dtype=torch.float64), MarkovCell(vocab), vocab
    ).double()
    with torch.no_grad():
        model.head.weight.copy_(scores.T)
        model.head.bias.zero_()
    return model


def from_probs(rows: list[list[float]]) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64).log()


# From 0 greedy takes 1 (0.6), but 0 -> 2 -> 3 (0.36) beats 0 -> 1 -> x (0.15).
BEAM_TABLE = from_probs(
    [
        [0.001, 0.6, 0.398, 0.001],
        [0.25, 0.25, 0.25, 0.25],
        [0.04, 0.03, 0.03, 0.9],
        [0.1, 0.2, 0.3, 0.4],
    ]
)


@pytest.fixture
def tok() -> WordTokenizer:
    return WordTokenizer().fit(WORDS)


def lstm_model(vocab: int, seed: int = 0) -> SequenceModel:
    g = torch.Generator().manual_seed(seed)
    return SequenceModel(
        OneHotEmbedding(vocab), LSTMCell(vocab, 8, generator=g), vocab, generator=g
    )


# -- greedy and the state carried forward -----------------------------------


def test_greedy_follows_the_highest_score(tok: WordTokenizer) -> None:
    decoder = SequenceDecoder(markov_model(BEAM_TABLE), tok)
    # 0 -> 1 (0.6) -> 0 (a tie of 0.25, the lower id) -> 1 -> 0
    assert decoder.generate_ids([0], 4) == [1, 0, 1, 0]
    assert decoder.generate("가", 2) == "가 나 가"


def test_each_new_token_is_one_step(tok: WordTokenizer) -> None:
    model = markov_model(BEAM_TABLE)
    decoder = SequenceDecoder(model, tok)
    cell = model.cell
    assert isinstance(cell, MarkovCell)
    for prompt, new in [([0], 1), ([0, 1, 2], 10), ([2, 3], 40)]:
        cell.calls = 0
        out = decoder.generate_ids(prompt, new, temperature=1.0, seed=0)
        assert len(out) == new
        # the prompt once, then one step per new token after the first
        assert cell.calls == len(prompt) + new - 1


def test_the_stream_is_lazy(tok: WordTokenizer) -> None:
    model = markov_model(BEAM_TABLE)
    cell = model.cell
    assert isinstance(cell, MarkovCell)
    ids = SequenceDecoder(model, tok).stream_ids([0, 1], 1000)
    assert cell.calls == 0
    assert next(ids) == 0 and cell.calls == 2
    assert next(ids) == 1 and cell.calls == 3


def test_a_given_state_continues_where_it_was() -> None:
    model = lstm_model(5)
    decoder = SequenceDecoder(model)
    _, state = model(torch.tensor([[1, 2, 3]]))
    whole = decoder.generate_ids([1, 2, 3, 4], 6)
    assert decoder.generate_ids([4], 6, state=state) == whole


def test_max_new_tokens_zero_returns_the_prompt(tok: WordTokenizer) -> None:
    decoder = SequenceDecoder(markov_model(BEAM_TABLE), tok)
    assert decoder.generate("가 나", 0) == "가 나"
    assert decoder.generate_ids([0], 0, beam_width=3) == []
    assert list(decoder.stream("가", 0)) == []


def test_the_model_mode_is_restored(tok: WordTokenizer) -> None:
    model = lstm_model(4)
    model.train()
    SequenceDecoder(model, tok).generate("가", 3, temperature=1.0, seed=1)
    assert model.training
    stream = SequenceDecoder(model, tok).stream("가", 5)
    next(stream)
    assert model.training  # also while a stream is paused


# -- temperature, seeds -------------------------------------------------------


def draws(model: SequenceModel, n: int, seed: int, **options: object) -> Tensor:
    """``n`` first tokens after the prompt ``[0]``, drawn as one batch."""
    decoder = SequenceDecoder(model)
    rows = decoder.generate_batch_ids([[0]] * n, 1, seed=seed, **options)
    return torch.tensor([r[0] for r in rows])


def frequencies(samples: Tensor, vocab: int) -> Tensor:
    return torch.bincount(samples, minlength=vocab).double() / len(samples)


@pytest.mark.parametrize("temperature", [1e-3, 1e-30, 1e-300, 5e-324])
def test_temperature_to_zero_is_greedy(temperature: float) -> None:
    model = lstm_model(6)
    decoder = SequenceDecoder(model)
    greedy = decoder.generate_ids([1, 2], 12)
    for seed in range(3):
        got = decoder.generate_ids([1, 2], 12, temperature=temperature, seed=seed)
        assert got == greedy


def test_huge_scores_do_not_give_nan() -> None:
    model = markov_model(torch.tensor([[3e38, 1e38], [-3e38, 3e38]]))
    assert SequenceDecoder(model).generate_ids([0], 3, temperature=1e-30) == [0, 0, 0]


@pytest.mark.parametrize("temperature", [1.0, 2.0, 0.5])
def test_sampling_follows_softmax_of_scores_over_temperature(
    temperature: float,
) -> None:
    probs = [0.1, 0.2, 0.3, 0.4]
    model = markov_model(from_probs([probs] * 4))
    got = frequencies(draws(model, 6000, 0, temperature=temperature), 4)
    want = torch.softmax(torch.tensor(probs).log().double() / temperature, dim=0)
    assert torch.allclose(got, want, atol=0.025)


def test_the_same_seed_gives_the_same_text(tok: WordTokenizer) -> None:
    decoder = SequenceDecoder(lstm_model(4), tok)
    texts = [decoder.generate("가", 30, temperature=1.5, seed=s) for s in (3, 3, 4)]
    assert texts[0] == texts[1] != texts[2]
    a = decoder.generate(
        "가", 30, temperature=1.5, seed=torch.Generator().manual_seed(9)
    )
    b = decoder.generate(
        "가", 30, temperature=1.5, seed=torch.Generator().manual_seed(9)
    )
    assert a == b


# -- top-k, top-p, repetition penalty ----------------------------------------


def test_top_k_keeps_exactly_the_k_highest() -> None:
    scores = torch.tensor([[0.5, 3.0, -1.0, 2.0, 1.0]])
    kept = torch.isfinite(top_k_filter(scores, 3))
    assert kept.tolist() == [[False, True, False, True, True]]
    assert torch.equal(top_k_filter(scores, 5), scores)
    assert torch.equal(top_k_filter(scores, 50), scores)  # k > V: clamped
    ties = torch.isfinite(top_k_filter(torch.tensor([1.0, 2.0, 2.0, 2.0]), 2))
    assert ties.tolist() == [False, True, True, False]  # ties go to the lower id


@pytest.mark.parametrize(
    ("p", "kept"),
    [
        (0.3, [1]),
        (0.5, [1]),
        (0.6, [1, 2]),
        (0.85, [1, 2, 3]),
        (0.99, [0, 1, 2, 3]),
        (1.0, [0, 1, 2, 3]),
    ],
)
def test_top_p_keeps_the_smallest_nucleus(p: float, kept: list[int]) -> None:
    probs = torch.tensor([0.05, 0.5, 0.3, 0.15], dtype=torch.float64)
    out = top_p_filter(probs.log(), p)
    assert torch.isfinite(out).nonzero().flatten().tolist() == kept
    assert torch.equal(out[kept], probs.log()[kept])


@pytest.mark.parametrize(
    ("options", "support"),
    [
        ({"top_k": 2}, [1, 2]),
        ({"top_k": 99}, [0, 1, 2, 3]),
        ({"top_p": 0.6}, [1, 2]),
        ({"top_p": 0.85}, [1, 2, 3]),
        ({"top_k": 3, "top_p": 0.6}, [1, 2]),
    ],
)
def test_sampling_draws_only_and_all_kept_tokens(
    options: dict[str, object], support: list[int]
) -> None:
    probs = [0.05, 0.5, 0.3, 0.15]
    model = markov_model(from_probs([probs] * 4))
    got = frequencies(draws(model, 5000, 1, temperature=1.0, **options), 4)
    want = torch.zeros(4, dtype=torch.float64)
    want[support] = torch.tensor(probs, dtype=torch.float64)[support]
    assert torch.allclose(got, want / want.sum(), atol=0.025)


def test_repetition_penalty_scales_seen_scores() -> None:
    scores = torch.tensor([[2.0, -2.0, 2.0, -2.0]])
    seen = torch.tensor([[True, True, False, False]])
    got = apply_repetition_penalty(scores, seen, 4.0)
    assert got.tolist() == [[0.5, -8.0, 2.0, -2.0]]
    assert apply_repetition_penalty(scores, seen, 1.0) is scores


def test_repetition_penalty_moves_generation_on() -> None:
    # Token 1 always prefers itself; with a penalty the second choice wins.
    table = from_probs([[0.1, 0.6, 0.2, 0.1], [0.1, 0.5, 0.3, 0.1]] * 2)
    decoder = SequenceDecoder(markov_model(table))
    assert decoder.generate_ids([0], 3) == [1, 1, 1]
    # log 0.5 = -0.69 becomes -1.39 with penalty 2, below log 0.3 = -1.20
    assert decoder.generate_ids([0], 1, repetition_penalty=2.0) == [1]
    assert decoder.generate_ids([0], 2, repetition_penalty=2.0) == [1, 2]


# -- beam search --------------------------------------------------------------


def brute_force(
    table: Tensor, start: int, steps: int, stops: set[int], alpha: float
) -> list[int]:
    """The best continuation by enumerating every sequence."""
    logp = torch.log_softmax(table, dim=-1)
    best, best_score = None, -math.inf
    vocab = table.shape[0]
    for length in range(1, steps + 1):
        for seq in itertools.product(range(vocab), repeat=length):
            inner, last = seq[:-1], seq[-1]
            if any(t in stops for t in inner):
                continue
            if length < steps and last not in stops:
                continue  # only a stop token ends a row early
            previous = (start, *seq[:-1])
            total = sum(float(logp[a, b]) for a, b in zip(previous, seq, strict=True))
            score = total / length**alpha
            if score > best_score:
                best_score = score
                best = list(inner) if last in stops else list(seq)
    assert best is not None
    return best


def test_beam_search_finds_the_known_best_sequence() -> None:
    decoder = SequenceDecoder(markov_model(BEAM_TABLE))
    assert decoder.generate_ids([0], 2) == [1, 0]  # greedy: 0.6 * 0.25
    assert decoder.generate_ids([0], 2, beam_width=1) == [1, 0]
    assert decoder.generate_ids([0], 2, beam_width=2) == [2, 3]  # 0.4 * 0.9
    assert brute_force(BEAM_TABLE, 0, 2, set(), 1.0) == [2, 3]


def test_beam_search_with_text(tok: WordTokenizer) -> None:
    decoder = SequenceDecoder(markov_model(BEAM_TABLE), tok)
    assert decoder.generate("가", 2, beam_width=2) == "가 다 라"
    assert decoder.generate("가", 2, beam_width=2, stop="라") == "가 다"


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0, -0.5])
def test_wide_beam_search_equals_enumeration(alpha: float) -> None:
    g = torch.Generator().manual_seed(int(alpha * 10) + 7)
    for trial in range(6):
        table = torch.randn(4, 4, generator=g, dtype=torch.float64) * 2
        decoder = SequenceDecoder(markov_model(table))
        stops = {3} if trial % 2 else set()
        want = brute_force(table, 0, 3, stops, alpha)
        got = decoder.generate_ids(
            [0], 3, beam_width=64, length_penalty=alpha, stop_ids=sorted(stops)
        )
        assert got == want, (trial, alpha)


def test_length_penalty_decides_between_short_and_long() -> None:
    # Stopping at once (id 3) has p = 0.5, the longest row 0.5 * 0.95 ** 3.
    table = torch.full((4, 4), 1e-6, dtype=torch.float64)
    table[0, 1] = table[0, 3] = 0.5
    table[1, 1], table[1, 3] = 0.95, 0.05
    decoder = SequenceDecoder(markov_model(table.log()))
    options = {"beam_width": 2, "stop_ids": [3]}
    assert decoder.generate_ids([0], 4, length_penalty=0, **options) == []
    assert decoder.generate_ids([0], 4, length_penalty=3, **options) == [1, 1, 1, 1]


# -- stop tokens, stop strings, streaming, batches -----------------------------


def test_stop_tokens_end_generation_and_are_left_out(tok: WordTokenizer) -> None:
    decoder = SequenceDecoder(markov_model(BEAM_TABLE), tok)
    assert decoder.generate_ids([0], 6, stop_ids=[0]) == [1]
    assert decoder.generate("가", 6, stop="가") == "가 나"
    assert decoder.generate("가", 6, stop=["라", "가"]) == "가 나"


def test_special_tokens_can_stop() -> None:
    tok = WordTokenizer(specials=["<eos>"]).fit(WORDS)  # <eos> 0, 가 1, 나 2, ...
    table = torch.full((5, 5), 0.01, dtype=torch.float64)
    table[1, 2] = table[2, 0] = table[0, 3] = 0.9
    decoder = SequenceDecoder(markov_model(table.log()), tok)
    # 가 -> 나 -> <eos> -> 다 -> <eos> (a tie, the lower id) -> 다
    assert decoder.generate("가", 5) == "가 나 다 다"  # decode skips <eos>
    assert decoder.generate("가", 5, stop="<eos>") == "가 나"


def test_stop_strings_cut_the_text() -> None:
    tok = CharTokenizer().fit("abc")
    table = from_probs([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    decoder = SequenceDecoder(markov_model(table), tok)
    assert decoder.generate("a", 7) == "abcabcab"
    assert decoder.generate("a", 7, stop_strings="ca") == "ab"
    assert decoder.generate("a", 7, stop_strings=["cab", "bca"]) == "a"
    assert decoder.generate("a", 7, stop_strings="zz") == "abcabcab"
    assert "".join(decoder.stream("a", 7, stop_strings="cab")) == "b"
    pieces = list(decoder.stream("a", 7, stop_strings="xy"))
    assert pieces == list("bcabcab")  # one piece per token


@pytest.mark.parametrize(
    "tokenizer",
    [WordTokenizer(), CharTokenizer(), JamoTokenizer()],
    ids=["word", "char", "jamo"],
)
def test_streamed_pieces_join_to_the_generated_text(tokenizer) -> None:
    text = "나라의 말이 중국과 달라 ᄉᆞᄆᆞᆺ디 한글"
    tokenizer.fit(text)
    vocab = len(tokenizer.vocab)
    decoder = SequenceDecoder(lstm_model(vocab, seed=2), tokenizer)
    prompt = "나라의 말" if not isinstance(tokenizer, WordTokenizer) else "나라의"
    options = {"temperature": 2.0, "seed": 5}
    whole = decoder.generate(prompt, 25, **options)
    pieces = list(decoder.stream(prompt, 25, **options))
    assert len(pieces) > 1
    joined = tokenizer.decode(tokenizer.encode(prompt)) + "".join(pieces)
    if isinstance(tokenizer, JamoTokenizer):
        assert unicodedata.normalize("NFC", joined) == whole
    else:
        assert joined == whole


def test_batch_greedy_equals_each_prompt_alone() -> None:
    tok = WordTokenizer().fit(WORDS)
    decoder = SequenceDecoder(lstm_model(4, seed=3), tok)
    prompts = ["가", "나 다 라 가", "다 다"]
    alone = [decoder.generate(p, 8) for p in prompts]
    assert decoder.generate_batch(prompts, 8) == alone
    beams = decoder.generate_batch(prompts, 4, beam_width=3)
    assert beams == [decoder.generate(p, 4, beam_width=3) for p in prompts]
    assert decoder.generate_batch([], 3) == []


def test_batch_rows_stop_on_their_own(tok: WordTokenizer) -> None:
    decoder = SequenceDecoder(markov_model(BEAM_TABLE), tok)
    rows = decoder.generate_batch_ids([[0], [2], [1]], 5, stop_ids=[3])
    assert rows == [[1, 0, 1, 0, 1], [], [0, 1, 0, 1, 0]]


def test_batch_sampling_is_reproducible(tok: WordTokenizer) -> None:
    decoder = SequenceDecoder(lstm_model(4), tok)
    a = decoder.generate_batch(["가", "나"], 10, temperature=1.0, seed=2)
    assert a == decoder.generate_batch(["가", "나"], 10, temperature=1.0, seed=2)


# -- errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"top_p": 0.0}, ValueError, r"top_p must be in \(0, 1\].*got 0.0"),
        ({"top_p": 1.5}, ValueError, r"top_p must be in \(0, 1\].*got 1.5"),
        ({"top_p": math.nan}, ValueError, "top_p must be finite"),
        ({"temperature": -0.1}, ValueError, "temperature must be .* >= 0.*-0.1"),
        ({"temperature": math.inf}, ValueError, "temperature must be finite"),
        ({"temperature": "hot"}, TypeError, "temperature must be a number, got str"),
        ({"beam_width": 0}, ValueError, "beam_width must be >= 1, got 0"),
        ({"beam_width": 2.0}, TypeError, "beam_width must be an int, got float"),
        ({"top_k": 0}, ValueError, "top_k must be >= 1 or None, got 0"),
        ({"repetition_penalty": 0}, ValueError, "repetition_penalty must be > 0"),
        ({"beam_width": 2, "temperature": 1.0}, ValueError, "beam search .* sampl"),
        ({"beam_width": 2, "top_k": 3}, ValueError, "beam search .* deterministic"),
        ({"seed": "7", "temperature": 1.0}, TypeError, "seed must be an int"),
    ],
)
def test_bad_options_are_refused(
    tok: WordTokenizer, options: dict[str, object], error: type, match: str
) -> None:
    decoder = SequenceDecoder(markov_model(BEAM_TABLE), tok)
    with pytest.raises(error, match=f"SequenceDecoder: {match}"):
        decoder.generate("가", 3, **options)


def test_bad_counts_and_prompts_are_refused(tok: WordTokenizer) -> None:
    decoder = SequenceDecoder(markov_model(BEAM_TABLE), tok)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0, got -1"):
        decoder.generate("가", -1)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0, got -1"):
        decoder.stream("가", -1)  # checked at the call, not at the first token
    with pytest.raises(TypeError, match="max_new_tokens must be an int, got float"):
        decoder.generate_ids([0], 2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected the prompt as str, got int"):
        decoder.generate(3, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has no tokens that the tokenizer keeps"):
        decoder.generate("!!", 2)
    with pytest.raises(ValueError, match="바"):
        decoder.generate("바", 2)
    with pytest.raises(ValueError, match="prompt_ids has id 9; the model scores ids"):
        decoder.generate_ids([9], 2)
    with pytest.raises(ValueError, match="stop_ids has id -1"):
        decoder.generate_ids([0], 2, stop_ids=[-1])
    with pytest.raises(ValueError, match=r"'가 나' gives 2.*stop_strings"):
        decoder.generate("가", 2, stop="가 나")
    with pytest.raises(TypeError, match="prompts as a list of str, got str"):
        decoder.generate_batch("가", 2)


def test_construction_is_checked(tok: WordTokenizer) -> None:
    with pytest.raises(TypeError, match="expected a SequenceModel, got Linear"):
        SequenceDecoder(nn.Linear(2, 2), tok)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tokenizer has 4 tokens but the model"):
        SequenceDecoder(lstm_model(3), tok)
    with pytest.raises(ValueError, match="has 4 tokens but the model scores 9;"):
        SequenceDecoder(lstm_model(9), tok)  # would generate ids it cannot decode
    with pytest.raises(ValueError, match="no tokenizer; pass one"):
        SequenceDecoder(lstm_model(3)).generate("가", 1)
