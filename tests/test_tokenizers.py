"""Tests for seqmodels.tokenizers: word, char and jamo, and their Unicode rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqmodels.protocols import Tokenizer
from seqmodels.tokenizers import (
    CharTokenizer,
    JamoTokenizer,
    NotFittedError,
    WordTokenizer,
    load_tokenizer,
)
from seqmodels.tokenizers._unicode import decompose_hangul, graphemes
from seqmodels.vocabulary import UnknownTokenError

PREFACE = (
    "나라의 말이 중국과 달라 문자와 서로 통하지 아니하니, 이런 까닭으로 어리석은 "
    "백성이 이르고자 할 바가 있어도 마침내 제 뜻을 능히 펴지 못할 사람이 많으니라. "
    "내가 이를 위하여 가없이 여겨 새로 스물여덟 자를 만드노니 사람마다 하여금 "
    "쉬이 익혀 날로 쓰는 데 편하게 하고자 할 따름이니라."
)
OLD_PREFACE = "나랏말ᄊᆞ미 듕귁에 달아 문ᄍᆞᆼ와로 서르 ᄉᆞᄆᆞᆺ디 아니ᄒᆞᆯᄊᆡ"
FAMILY = "👨\u200d👩\u200d👧"  # man ZWJ woman ZWJ girl
FLAG = "🇰🇷"
THUMB = "👍🏽"  # thumbs up, medium skin tone
MIXED = f"세종(世宗)은 1443년 Hangul을 만들었다 {THUMB}{FAMILY}{FLAG} café ㅋㅋ"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


ALL_KINDS = [WordTokenizer, CharTokenizer, JamoTokenizer]


# -- the reference text --------------------------------------------------------


def test_preface_has_44_words_and_a_vocabulary_of_43() -> None:
    tok = WordTokenizer().fit(PREFACE)
    ids = tok.encode(PREFACE)

    assert len(ids) == 44
    assert len(tok.vocab) == tok.vocab_size == 43
    assert ids[0] == 0
    assert tok.vocab.token(0) == "나라의"
    assert ids == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                   18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
                   34, 35, 36, 37, 38, 39, 40, 41, 13, 42]  # fmt: skip
    assert tok.vocab.token(13) == "할"
    assert tok.vocab.token(42) == "따름이니라"


def test_preface_drops_punctuation_and_decodes_with_single_spaces() -> None:
    tok = WordTokenizer().fit(PREFACE)
    expected = PREFACE.replace(",", "").replace(".", "")
    assert tok.decode(tok.encode(PREFACE)) == expected
    assert tok.tokenize("아니하니,") == ["아니하니"]


def test_nfd_input_gives_the_same_ids_as_nfc() -> None:
    for kind in ALL_KINDS:
        tok = kind().fit(PREFACE)
        assert nfd(PREFACE) != PREFACE
        assert tok.encode(nfd(PREFACE)) == tok.encode(PREFACE)
        assert kind().fit(nfd(PREFACE)).vocab == tok.vocab


def test_vocabulary_is_the_same_under_any_hash_seed() -> None:
    script = (
        "import json, sys\n"
        "from seqmodels.tokenizers import WordTokenizer, CharTokenizer, "
        "JamoTokenizer\n"
        "text = sys.stdin.read()\n"
        "vocabs = [k().fit(text).vocab for k in "
        "(WordTokenizer, CharTokenizer, JamoTokenizer)]\n"
        "print(json.dumps([[list(v), v.fingerprint] for v in vocabs]))\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    runs = []
    for seed in ("0", "1", "2", "123"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": src}
        runs.append(
            subprocess.Popen(
                [sys.executable, "-c", script],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
            )
        )
    outputs = [run.communicate(PREFACE + " " + MIXED, timeout=120) for run in runs]

    assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert all(result == results[0] for result in results)
    assert results[0][0][0][:3] == ["나라의", "말이", "중국과"]


# -- Old Hangul, Hanja, emoji, mixed scripts -----------------------------------


def test_old_hangul_words_stay_whole_and_round_trip() -> None:
    tok = WordTokenizer().fit(OLD_PREFACE)

    assert list(tok.vocab) == OLD_PREFACE.split()
    assert tok.vocab.token(0) == "나랏말ᄊᆞ미"
    assert tok.decode(tok.encode(OLD_PREFACE)) == OLD_PREFACE


def test_a_regex_range_would_have_dropped_old_hangul() -> None:
    # What [가-힣] keeps of the first word, for contrast with the tokenizer.
    syllables_only = "".join(c for c in "나랏말ᄊᆞ미" if "가" <= c <= "힣")
    assert syllables_only == "나랏말미"
    assert WordTokenizer().fit("나랏말ᄊᆞ미").tokenize("나랏말ᄊᆞ미") == ["나랏말ᄊᆞ미"]


def test_compatibility_jamo_are_kept_by_default() -> None:
    tok = WordTokenizer().fit("ㅋㅋ 좋아요!")
    assert list(tok.vocab) == ["ㅋㅋ", "좋아요"]


def test_char_tokens_are_grapheme_clusters() -> None:
    tok = CharTokenizer().fit(OLD_PREFACE + " ᄇᆡᆼ")

    assert "ᄊᆞ" in tok.vocab
    assert "ᄇᆡᆼ" in tok.vocab
    assert "ᆞ" not in tok.vocab
    assert tok.tokenize("ᄇᆡᆼ") == ["ᄇᆡᆼ"]
    assert tok.decode(tok.encode(OLD_PREFACE)) == OLD_PREFACE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FAMILY, [FAMILY]),
        (FLAG + "🇯🇵", [FLAG, "🇯🇵"]),
        ("🇰🇷🇯", [FLAG, "🇯"]),
        (THUMB, [THUMB]),
        ("❤\ufe0f!", ["❤\ufe0f", "!"]),  # variation selector attaches
        ("e\u0301x", ["e\u0301", "x"]),  # combining mark attaches
        ("a\r\nb", ["a", "\r\n", "b"]),
        ("ᄀ각ᆨ가", ["ᄀ각ᆨ", "가"]),  # L+ V+ T* then a new LV
        ("각각ᆨ", ["각", "각ᆨ"]),  # LV + T, LVT + T
        ("ᆨᄀ", ["ᆨ", "ᄀ"]),  # T then L: a boundary
        ("a\u200db", ["a\u200d", "b"]),  # ZWJ joins only pictographs
        ("", []),
    ],
)
def test_grapheme_segmentation(text: str, expected: list[str]) -> None:
    assert graphemes(text) == expected


def test_emoji_are_single_char_tokens() -> None:
    text = f"{FAMILY} {FLAG} {THUMB}"
    tok = CharTokenizer().fit(text)
    assert tok.tokenize(text) == [FAMILY, " ", FLAG, " ", THUMB]
    assert len(tok.vocab) == 4


def test_hanja_is_dropped_by_default_and_kept_on_request() -> None:
    assert WordTokenizer().fit(MIXED).tokenize("세종(世宗)은") == ["세종은"]
    tok = WordTokenizer("hangul+hanja").fit(MIXED)
    assert tok.tokenize("세종(世宗)은") == ["세종世宗은"]


def test_compatibility_ideograph_comes_back_in_its_nfc_form() -> None:
    text = "\uf900 宗"  # U+F900 normalises to U+8C48 under NFC
    assert nfc(text)[0] == "\u8c48"
    for tok in (
        WordTokenizer("hanja").fit(text),
        WordTokenizer(lossless=True).fit(text),
        CharTokenizer().fit(text),
        JamoTokenizer().fit(text),
    ):
        assert tok.encode(text) == tok.encode(nfc(text))
        assert "\u8c48" in tok.vocab
        assert "\uf900" not in tok.vocab
        assert tok.decode(tok.encode(text)).replace(" ", "") == "\u8c48宗"


def test_presets_for_latin_digits_and_letters() -> None:
    text = "GPT4는 café에서 Ελλάδα 2024년"
    assert WordTokenizer().fit(text).tokenize(text) == ["는", "에서", "년"]
    latin = WordTokenizer("hangul+latin").fit(text)
    assert latin.tokenize(text) == ["GPT는", "café에서", "년"]
    digits = WordTokenizer("hangul+latin+digits").fit(text)
    assert digits.tokenize(text) == ["GPT4는", "café에서", "2024년"]
    letters = WordTokenizer("letters").fit(text)
    assert letters.tokenize(text) == ["GPT4는", "café에서", "Ελλάδα", "2024년"]


def test_keep_accepts_a_function_per_character() -> None:
    tok = WordTokenizer(keep=str.isdigit).fit("1443년 28자")
    assert list(tok.vocab) == ["1443", "28"]


def test_lowercase() -> None:
    tok = WordTokenizer("latin", lowercase=True).fit("Hangul HANGUL hangul")
    assert list(tok.vocab) == ["hangul"]


def test_punctuation_runs_become_tokens() -> None:
    tok = WordTokenizer(punctuation=True).fit(PREFACE)
    assert tok.tokenize("아니하니, 「가」...") == ["아니하니", ",", "「", "가", "」..."]
    assert len(tok.encode(PREFACE)) == 44 + 3


def test_lossless_tokens_cover_every_character() -> None:
    tok = WordTokenizer(lossless=True, punctuation=True).fit(MIXED)
    assert tok.tokenize("아니하니,  hello\n") == ["아니하니", ",", "  ", "hello", "\n"]
    for text in (PREFACE, MIXED, OLD_PREFACE, nfd(PREFACE)):
        tok = WordTokenizer(lossless=True).fit(text)
        assert tok.decode(tok.encode(text)) == nfc(text)


def test_jamo_tokens_and_exact_recomposition() -> None:
    tok = JamoTokenizer().fit(PREFACE + OLD_PREFACE + MIXED)

    assert tok.tokenize("한") == ["ᄒ", "ᅡ", "ᆫ"]
    assert tok.tokenize("ᄊᆞ") == ["ᄊ", "ᆞ"]
    assert tok.tokenize(FAMILY + "ㅋ") == [FAMILY, "ㅋ"]
    for text in (PREFACE, OLD_PREFACE, MIXED, "가ᆞ각ᆨ", nfd(MIXED)):
        tok = JamoTokenizer().fit(text)
        assert tok.decode(tok.encode(text)) == nfc(text)


def test_decompose_hangul_matches_nfd() -> None:
    for code in range(0xAC00, 0xD7A4, 97):
        assert decompose_hangul(chr(code)) == nfd(chr(code))
    assert decompose_hangul("힣") == nfd("힣")
    assert decompose_hangul("a") == "a"


def test_char_and_jamo_round_trip_mixed_scripts() -> None:
    for kind in (CharTokenizer, JamoTokenizer):
        tok = kind().fit(MIXED)
        assert tok.decode(tok.encode(MIXED)) == MIXED


# -- specials, unknowns, options -----------------------------------------------


def test_unknown_word_raises_naming_it() -> None:
    tok = WordTokenizer().fit(PREFACE)
    pattern = (
        r"^WordTokenizer: '세종' is not in the vocabulary \(43 tokens\); "
        r"fit on text that contains it or configure unk_token$"
    )
    with pytest.raises(UnknownTokenError, match=pattern):
        tok.encode("나라의 세종")
    with pytest.raises(ValueError, match="'세종'"):  # as the protocol promises
        tok.encode("세종")


def test_unk_token_maps_unknown_words_and_decode_skips_specials() -> None:
    tok = WordTokenizer(specials=["<pad>"], unk_token="<unk>").fit(PREFACE)

    assert tok.vocab.specials == ("<pad>", "<unk>")
    assert tok.vocab.unk_id == 1
    ids = tok.encode("나라의 세종")
    assert ids == [2, 1]
    assert tok.decode([0, *ids, 0]) == "나라의"
    assert tok.decode([0, *ids], skip_specials=False) == "<pad> 나라의 <unk>"


def test_char_unknown_and_unk() -> None:
    with pytest.raises(UnknownTokenError, match=r"CharTokenizer: '세' is not"):
        CharTokenizer().fit("나라").encode("세")
    tok = CharTokenizer(unk_token="<unk>").fit("나라")
    assert tok.encode("나세") == [1, 0]


def test_jamo_unknown() -> None:
    with pytest.raises(UnknownTokenError, match=r"JamoTokenizer: 'ᄉ' is not"):
        JamoTokenizer().fit("나라").encode("세")


def test_min_freq_and_max_size_pass_through() -> None:
    tok = WordTokenizer(min_freq=2, unk_token="<unk>").fit(PREFACE)
    assert list(tok.vocab) == ["<unk>", "할"]
    tok = CharTokenizer(max_size=3).fit("가가가나나다")
    assert list(tok.vocab) == ["가", "나", "다"]
    tok = CharTokenizer(max_size=2).fit("가가가나나다")
    assert list(tok.vocab) == ["가", "나"]


def test_tokenizers_satisfy_the_protocol_once_fitted() -> None:
    for kind in ALL_KINDS:
        tok = kind()
        assert not isinstance(tok, Tokenizer)
        assert isinstance(tok.fit(PREFACE), Tokenizer)


def test_refit_replaces_the_vocabulary() -> None:
    tok = CharTokenizer().fit("가나")
    tok.fit(["다", "라"])
    assert list(tok.vocab) == ["다", "라"]


def test_decode_accepts_integer_like_ids() -> None:
    torch = pytest.importorskip("torch")
    tok = WordTokenizer().fit(PREFACE)
    assert tok.decode(torch.tensor([0, 1])) == "나라의 말이"  # type: ignore[arg-type]


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "Hello, world!", "123"])
def test_fit_without_kept_words_is_refused(text: str) -> None:
    pattern = r"WordTokenizer: fit found no words to keep in the text \(keep='hangul'\)"
    with pytest.raises(ValueError, match=pattern):
        WordTokenizer().fit(text)
    with pytest.raises(ValueError, match=pattern):
        WordTokenizer().fit([text, text])


def test_fit_empty_char_text_is_refused() -> None:
    with pytest.raises(ValueError, match=r"CharTokenizer: fit found no characters"):
        CharTokenizer().fit("")
    with pytest.raises(ValueError, match=r"JamoTokenizer: fit found no characters"):
        JamoTokenizer().fit([])


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_use_before_fit_is_refused(kind: type[WordTokenizer], tmp_path: Path) -> None:
    name = kind.__name__
    pattern = rf"{name}: not fitted yet; call fit\(texts\) first"
    with pytest.raises(NotFittedError, match=pattern):
        kind().encode("나라")
    with pytest.raises(NotFittedError, match=pattern):
        kind().decode([0])
    with pytest.raises(NotFittedError, match=pattern):
        kind().save(tmp_path / "tok.json")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_wrong_types_are_refused(kind: type[WordTokenizer]) -> None:
    tok = kind().fit(PREFACE)
    name = kind.__name__
    with pytest.raises(TypeError, match=rf"{name}: expected text as str, got bytes"):
        tok.encode(PREFACE.encode())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"{name}: expected text as str, got int"):
        tok.encode(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"{name}.fit: .* got bytes"):
        kind().fit(b"abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"{name}.fit: .* got int at position 1"):
        kind().fit(["가", 1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=rf"{name}.fit: .* got int"):
        kind().fit(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=rf"{name}.decode: expected int ids, got float"):
        tok.decode([0.0])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=rf"{name}.decode: expected int ids, got bool"):
        tok.decode([True])
    with pytest.raises(TypeError, match=rf"{name}.decode: .* got str"):
        tok.decode("01")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_decode_out_of_range_names_id_and_size(kind: type[WordTokenizer]) -> None:
    tok = kind().fit("가나")
    size = len(tok.vocab)
    pattern = rf"{kind.__name__}.decode: id {size} is out of range .* {size} tokens"
    with pytest.raises(ValueError, match=pattern):
        tok.decode([0, size])
    with pytest.raises(ValueError, match=r"id -1 is out of range"):
        tok.decode([-1])


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown keep preset 'korean' in 'korean'"):
        WordTokenizer("korean")
    with pytest.raises(ValueError, match=r"unknown keep preset 'hanza'"):
        WordTokenizer("hangul+hanza")
    with pytest.raises(TypeError, match=r"expected keep as a preset name .* got int"):
        WordTokenizer(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"lossless=True cannot lowercase"):
        WordTokenizer(lossless=True, lowercase=True)
    with pytest.raises(TypeError, match=r"expected lossless as bool, got str"):
        WordTokenizer(lossless="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"CharTokenizer: expected min_freq >= 1"):
        CharTokenizer(min_freq=0)
    with pytest.raises(ValueError, match=r"expected max_size > 2 .* got 2"):
        CharTokenizer(specials=["<pad>"], unk_token="<unk>", max_size=2)
    with pytest.raises(ValueError, match=r"JamoTokenizer: specials repeat a token"):
        JamoTokenizer(specials=["<pad>", "<pad>"])
    with pytest.raises(TypeError, match=r"expected specials as a sequence of str"):
        JamoTokenizer(specials="<pad>")


# -- files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "tok",
    [
        WordTokenizer(),
        WordTokenizer("hangul+hanja", punctuation=True, specials=["<pad>"]),
        WordTokenizer(lossless=True, unk_token="<unk>"),
        CharTokenizer(specials=["<bos>", "<eos>"]),
        JamoTokenizer(unk_token="<unk>", max_size=30),
    ],
    ids=["word", "word-hanja", "word-lossless", "char", "jamo"],
)
def test_save_and_load_round_trip(tok: WordTokenizer, tmp_path: Path) -> None:
    text = PREFACE + " " + MIXED
    tok.fit(text)
    path = tmp_path / "tok.json"
    tok.save(path)

    data = json.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {"format", "version", "type", "options", "vocab"}
    assert (data["format"], data["version"], data["type"]) == (
        "seqmodels.tokenizer",
        1,
        tok.kind,
    )
    for loaded in (type(tok).load(path), load_tokenizer(path)):
        assert type(loaded) is type(tok)
        assert loaded.vocab == tok.vocab
        assert loaded.encode(text) == tok.encode(text)
        assert loaded.decode(tok.encode(text)) == tok.decode(tok.encode(text))
        assert loaded.to_dict() == tok.to_dict()


def test_load_refuses_a_file_of_another_type(tmp_path: Path) -> None:
    path = tmp_path / "char.json"
    CharTokenizer().fit(PREFACE).save(path)
    with pytest.raises(ValueError, match=r"char\.json holds a 'char' tokenizer"):
        WordTokenizer.load(path)


def test_load_refuses_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "tok.json"
    data = WordTokenizer().fit(PREFACE).to_dict()

    path.write_text(json.dumps({**data, "version": 9}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"tok\.json: expected format .* version 9"):
        WordTokenizer.load(path)
    with pytest.raises(ValueError, match=r"load_tokenizer: .*tok\.json: expected"):
        load_tokenizer(path)

    path.write_text(json.dumps({**data, "type": "bpe"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown tokenizer type 'bpe'"):
        load_tokenizer(path)

    options = {**data["options"], "keep": "korean"}
    path.write_text(json.dumps({**data, "options": options}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad options .*unknown keep preset"):
        WordTokenizer.load(path)

    vocab = {**data["vocab"], "tokens": data["vocab"]["tokens"][::-1]}
    path.write_text(json.dumps({**data, "vocab": vocab}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"tok\.json: fingerprint mismatch"):
        load_tokenizer(path)


def test_load_refuses_specials_that_differ_from_the_options(tmp_path: Path) -> None:
    path = tmp_path / "tok.json"
    data = CharTokenizer(specials=["<pad>"]).fit("가나").to_dict()
    data["options"]["specials"] = ["<bos>"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=r"specials \['<pad>'\] differ from"):
        CharTokenizer.load(path)


def test_a_function_keep_cannot_be_saved(tmp_path: Path) -> None:
    tok = WordTokenizer(keep=str.isalpha).fit("가나 다")
    with pytest.raises(ValueError, match=r"cannot save a tokenizer whose keep is"):
        tok.save(tmp_path / "tok.json")


# -- properties over random text -----------------------------------------------

HANGUL_HEAVY = st.text(
    st.one_of(
        st.characters(min_codepoint=0x1100, max_codepoint=0x11FF),
        st.characters(min_codepoint=0xA960, max_codepoint=0xA97F),
        st.characters(min_codepoint=0xD7B0, max_codepoint=0xD7FF),
        st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
        st.characters(min_codepoint=0x3130, max_codepoint=0x318F),
        st.sampled_from(["\u0301", "\u302e", " ", "\n", "\uf900", "a"]),
        st.characters(),
    ),
    min_size=1,
)
ROUND_TRIP = settings(max_examples=100, deadline=None)


@ROUND_TRIP
@given(st.text(min_size=1) | HANGUL_HEAVY)
def test_lossless_word_round_trip(text: str) -> None:
    tok = WordTokenizer(lossless=True, punctuation=True).fit(text)
    assert tok.decode(tok.encode(text)) == nfc(text)


@ROUND_TRIP
@given(st.text(min_size=1) | HANGUL_HEAVY)
def test_char_round_trip(text: str) -> None:
    tok = CharTokenizer().fit(text)
    assert tok.decode(tok.encode(text)) == nfc(text)
    assert "".join(graphemes(text)) == text


@ROUND_TRIP
@given(st.text(min_size=1) | HANGUL_HEAVY)
def test_jamo_round_trip(text: str) -> None:
    tok = JamoTokenizer().fit(text)
    assert tok.decode(tok.encode(text)) == nfc(text)
