"""Tests for seqmodels.vocabulary."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import pytest

from seqmodels.protocols import Vocab
from seqmodels.vocabulary import UnknownTokenError, Vocabulary

WORDS = ["나라의", "말이", "중국과", "달라", "할", "바가", "할", "따름이니라"]


# -- order and lookups ---------------------------------------------------------


def test_ids_follow_first_occurrence_with_specials_first() -> None:
    vocab = Vocabulary.from_tokens(WORDS, specials=["<pad>", "<unk>"])

    assert list(vocab) == ["<pad>", "<unk>", *dict.fromkeys(WORDS)]
    assert len(vocab) == 2 + 7
    assert vocab.id("나라의") == 2
    assert vocab.id("할") == 6
    assert vocab.token(8) == "따름이니라"
    assert vocab.specials == ("<pad>", "<unk>")
    assert vocab.tokens[:3] == ("<pad>", "<unk>", "나라의")
    assert "말이" in vocab
    assert "세종" not in vocab
    assert 3 not in vocab


def test_special_ids_are_none_when_absent() -> None:
    plain = Vocabulary(["a", "b"])
    assert (plain.pad_id, plain.unk_id, plain.bos_id, plain.eos_id) == (None,) * 4

    full = Vocabulary(["a"], specials=["<eos>", "<bos>", "<unk>", "<pad>"])
    assert (full.pad_id, full.unk_id, full.bos_id, full.eos_id) == (3, 2, 1, 0)
    assert full.is_special(3)
    assert not full.is_special(4)


def test_a_token_that_is_not_special_gives_no_special_id() -> None:
    vocab = Vocabulary(["<unk>", "a"])
    assert vocab.unk_id is None


def test_get_returns_default_for_unknown_token() -> None:
    vocab = Vocabulary(["a"])
    assert vocab.get("a") == 0
    assert vocab.get("z") is None
    assert vocab.get("z", 7) == 7


def test_explicit_order_is_kept() -> None:
    assert list(Vocabulary(["c", "a", "b"])) == ["c", "a", "b"]


def test_vocabulary_satisfies_the_vocab_protocol() -> None:
    assert isinstance(Vocabulary(["a"]), Vocab)


def test_equality_compares_tokens_and_specials() -> None:
    assert Vocabulary(["a", "b"]) == Vocabulary(["a", "b"])
    assert Vocabulary(["a", "b"]) != Vocabulary(["b", "a"])
    assert Vocabulary(["b"], specials=["a"]) != Vocabulary(["a", "b"])


# -- frequency options ---------------------------------------------------------


def test_min_freq_orders_by_frequency_then_first_occurrence() -> None:
    tokens = list("cababdbee")  # counts: b 3, a 2, e 2, c 1, d 1

    assert list(Vocabulary.from_tokens(tokens)) == ["c", "a", "b", "d", "e"]
    assert list(Vocabulary.from_tokens(tokens, min_freq=2)) == ["b", "a", "e"]


def test_max_size_counts_specials_and_keeps_the_most_frequent() -> None:
    tokens = list("cababdbee")

    vocab = Vocabulary.from_tokens(tokens, max_size=4)
    assert list(vocab) == ["b", "a", "e", "c"]

    vocab = Vocabulary.from_tokens(tokens, specials=["<pad>"], max_size=3)
    assert list(vocab) == ["<pad>", "b", "a"]


def test_a_token_equal_to_a_special_is_not_added_twice() -> None:
    vocab = Vocabulary.from_tokens(["a", "<unk>", "b"], specials=["<unk>"])
    assert list(vocab) == ["<unk>", "a", "b"]


# -- errors --------------------------------------------------------------------


def test_unknown_token_error_names_component_token_and_size() -> None:
    vocab = Vocabulary(["a", "b"])
    with pytest.raises(UnknownTokenError, match=r"'세종' is not in") as info:
        vocab.id("세종")

    error = info.value
    assert isinstance(error, KeyError)
    assert isinstance(error, ValueError)
    assert error.token == "세종"
    assert str(error).startswith("Vocabulary: '세종'")  # no repr quotes
    assert "(2 tokens)" in str(error)


def test_unknown_token_error_survives_pickling() -> None:
    error = UnknownTokenError("WordTokenizer", "세종", 43, "configure unk_token")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert copy.token == "세종"


def test_token_out_of_range_names_id_and_size() -> None:
    vocab = Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match=r"id 2 is out of range .* of 2 tokens"):
        vocab.token(2)
    with pytest.raises(ValueError, match=r"id -1 is out of range"):
        vocab.token(-1)
    with pytest.raises(TypeError, match=r"expected an int id, got str"):
        vocab.token("a")  # type: ignore[arg-type]


def test_empty_vocabulary_is_refused() -> None:
    with pytest.raises(ValueError, match=r"at least one token or special, got none"):
        Vocabulary([])
    with pytest.raises(ValueError, match=r"no token occurs at least min_freq=1"):
        Vocabulary.from_tokens([])


def test_duplicate_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'a' appears twice \(positions 0 and 2\)"):
        Vocabulary(["a", "b", "a"])
    with pytest.raises(ValueError, match=r"'<pad>' appears twice"):
        Vocabulary(["<pad>"], specials=["<pad>"])


def test_bad_token_types_are_refused() -> None:
    with pytest.raises(TypeError, match=r"iterable of str, got str"):
        Vocabulary("abc")
    with pytest.raises(TypeError, match=r"tokens of type str, got int"):
        Vocabulary(["a", 1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"non-empty tokens, got ''"):
        Vocabulary(["a", ""])


def test_bad_frequency_options_are_refused() -> None:
    with pytest.raises(ValueError, match=r"min_freq >= 1, got 0"):
        Vocabulary.from_tokens(["a"], min_freq=0)
    with pytest.raises(TypeError, match=r"max_size as int"):
        Vocabulary.from_tokens(["a"], max_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"max_size=1 leaves no room .* 1 specials"):
        Vocabulary.from_tokens(["a"], specials=["<pad>"], max_size=1)
    with pytest.raises(ValueError, match=r"no token occurs at least min_freq=3"):
        Vocabulary.from_tokens(["a", "a", "b"], min_freq=3)


# -- fingerprint and files ----------------------------------------------------


def test_fingerprint_is_sha256_of_canonical_json() -> None:
    vocab = Vocabulary(["나라", "말"], specials=["<pad>"])
    canonical = '{"specials":["<pad>"],"tokens":["나라","말"]}'
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    assert vocab.fingerprint == expected
    assert Vocabulary(["나라", "말"], specials=["<pad>"]).fingerprint == expected


def test_fingerprint_changes_with_content_order_and_specials() -> None:
    base = Vocabulary(["a", "b"], specials=["<pad>"]).fingerprint
    others = {
        Vocabulary(["a", "c"], specials=["<pad>"]).fingerprint,
        Vocabulary(["b", "a"], specials=["<pad>"]).fingerprint,
        Vocabulary(["<pad>", "a", "b"]).fingerprint,
        Vocabulary(["a", "b"], specials=["<unk>"]).fingerprint,
    }
    assert base not in others
    assert len(others) == 4


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    vocab = Vocabulary.from_tokens(WORDS, specials=["<pad>", "<unk>"])
    path = tmp_path / "vocab.json"
    vocab.save(path)

    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "seqmodels.vocabulary"
    assert data["version"] == 1
    assert data["fingerprint"] == vocab.fingerprint
    assert "나라의" in path.read_text(encoding="utf-8")  # readable, not \\u escapes

    loaded = Vocabulary.load(path)
    assert loaded == vocab
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab


def test_load_refuses_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "vocab.json"
    Vocabulary(["a", "b"]).save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tokens"] = ["b", "a"]
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(ValueError, match=r"vocab\.json: fingerprint mismatch"):
        Vocabulary.load(path)


@pytest.mark.parametrize(("key", "value"), [("format", "other.format"), ("version", 2)])
def test_load_refuses_another_format_or_version(
    tmp_path: Path, key: str, value: object
) -> None:
    path = tmp_path / "vocab.json"
    data = Vocabulary(["a"]).to_dict()
    data[key] = value
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(ValueError, match=r"vocab\.json: expected format"):
        Vocabulary.load(path)


def test_load_refuses_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "vocab.json"
    path.write_text("not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab\.json is not a JSON file"):
        Vocabulary.load(path)


def test_from_dict_refuses_duplicates_with_the_source() -> None:
    data = {"format": "seqmodels.vocabulary", "version": 1}
    data |= {"specials": [], "tokens": ["a", "a"], "fingerprint": ""}
    with pytest.raises(ValueError, match=r"Vocabulary: here: .*appears twice"):
        Vocabulary.from_dict(data, source="here")
