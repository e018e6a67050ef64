import unicodedata

import regex
from hypothesis import given
from hypothesis import strategies as st

from indexes.normalize import normalize_token, token_hash, tokenize, tokenize_many


def test_offsets_point_into_the_original_text():
    text = "  Hello,   WORLD!\tIt's   a  “façade”…"
    tokens = tokenize(text, 1)
    words = [text[s:e] for s, e in zip(tokens.starts, tokens.ends, strict=False)]
    assert words == ["Hello", "WORLD", "It", "s", "a", "façade"]


def test_case_width_and_compatibility_forms_normalize_alike():
    a = tokenize("Straße ﬁne ＡＢＣ", 1).hashes
    b = tokenize("STRASSE fine abc", 1).hashes
    assert a.tolist() == b.tolist()


def test_decomposed_accents_stay_inside_the_token():
    composed = tokenize("café au lait", 1)
    decomposed_text = unicodedata.normalize("NFD", "café au lait")
    decomposed = tokenize(decomposed_text, 1)
    assert composed.hashes.tolist() == decomposed.hashes.tolist()
    assert decomposed_text[decomposed.starts[0] : decomposed.ends[0]] == unicodedata.normalize("NFD", "café")


def test_han_characters_are_tokens_of_their_own():
    text = "東京 tower 東京タワー"
    tokens = tokenize(text, 1)
    assert [text[s:e] for s, e in zip(tokens.starts, tokens.ends, strict=False)] == [
        "東",
        "京",
        "tower",
        "東",
        "京",
        "タ",
        "ワ",
        "ー",
    ]


def test_seed_changes_hashes():
    assert tokenize("same words", 1).hashes.tolist() != tokenize("same words", 2).hashes.tolist()


def test_char_span_covers_token_range():
    text = "one two three four"
    tokens = tokenize(text, 1)
    start, end = tokens.char_span(1, 3)
    assert text[start:end] == "two three"


@given(st.text())
def test_tokens_are_in_order_and_non_overlapping(text):
    tokens = tokenize(text, 7)
    assert len(tokens.starts) == len(tokens.ends) == len(tokens.hashes)
    for i, (s, e) in enumerate(zip(tokens.starts.tolist(), tokens.ends.tolist(), strict=False)):
        assert 0 <= s < e <= len(text)
        if i:
            assert s >= tokens.ends[i - 1]


@given(st.text())
def test_normalized_token_is_stable(token):
    once = normalize_token(token)
    assert normalize_token(once) == normalize_token(once.casefold())


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200), st.integers(0, 2**64 - 1))
def test_vectorized_hashes_equal_the_one_token_reference(text, seed):
    tokens = tokenize(text, seed)
    for h, s, e in zip(tokens.hashes.tolist(), tokens.starts.tolist(), tokens.ends.tolist(), strict=True):
        assert h == token_hash(text[s:e], seed)


@given(st.lists(st.sampled_from(["Ab", "ünï", "東", "x²", "😀", "--", " ", "\u0301", "Ǆ"]), max_size=40))
def test_tokens_agree_with_the_regex_definition(parts):
    text = "".join(parts)
    tokens = tokenize(text, 1)
    expected = [m.span() for m in DEFINITION.finditer(text)]
    assert list(zip(tokens.starts.tolist(), tokens.ends.tolist(), strict=True)) == expected


DEFINITION = regex.compile(
    r"[\p{Han}\p{Hiragana}\p{Katakana}]|[[\p{L}\p{N}\p{M}]--[\p{Han}\p{Hiragana}\p{Katakana}]]+", regex.VERSION1
)


@given(st.lists(st.text(alphabet=st.sampled_from(list("ab Z9.,\n\u0301é東😀\ud800")), max_size=40), max_size=6))
def test_tokenize_many_equals_tokenizing_each_text(texts):
    many = tokenize_many(texts, 3)
    assert len(many) == len(texts)
    for text, tokens in zip(texts, many, strict=True):
        alone = tokenize(text, 3)
        assert tokens.hashes.tolist() == alone.hashes.tolist()
        assert tokens.starts.tolist() == alone.starts.tolist()
        assert tokens.ends.tolist() == alone.ends.tolist()
