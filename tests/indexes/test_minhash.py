import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes._datasketch import reference_signature
from indexes.minhash import MinHasher, fold32, sliding_min
from indexes.normalize import tokenize
from indexes.shingles import shingle_hashes

HASHER = MinHasher(128, 1)


def test_signature_equals_datasketch_on_real_text():
    text = "It was the best of times, it was the worst of times, it was the age of wisdom " * 3
    sh = shingle_hashes(tokenize(text, 1).hashes, 5)
    ours = HASHER.signature(sh)
    theirs = reference_signature(fold32(sh).tolist(), 128, 1)
    assert ours.tolist() == theirs.tolist()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=200), st.integers(1, 2**31))
def test_signature_equals_datasketch_for_any_set(values, seed):
    hasher = MinHasher(16, seed)
    sh = np.array(values, dtype=np.uint64)
    assert hasher.signature(sh).tolist() == reference_signature(fold32(sh).tolist(), 16, seed).tolist()


def test_empty_set_signature_is_all_max():
    assert set(HASHER.signature(np.zeros(0, dtype=np.uint64)).tolist()) == {0xFFFFFFFF}


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=80), st.integers(1, 90))
def test_sliding_min_matches_brute_force(values, width):
    arr = np.array(values, dtype=np.uint32).reshape(-1, 1)
    width = min(width, len(values))
    expected = [min(values[i : i + width]) for i in range(len(values) - width + 1)]
    assert sliding_min(arr, width)[:, 0].tolist() == expected


def test_window_signatures_equal_signatures_of_slices():
    sh = shingle_hashes(tokenize(" ".join(f"w{i}" for i in range(120)), 3).hashes, 5)
    starts = np.array([0, 7, 30, len(sh) - 20], dtype=np.int64)
    sigs = HASHER.window_signatures(sh, starts, 20)
    for row, s in zip(sigs, starts.tolist(), strict=False):
        assert row.tolist() == HASHER.signature(sh[s : s + 20]).tolist()


def test_known_answer_signature():
    """Pinned values: a change here means every stored index is incompatible (bump the tokenizer)."""
    sh = shingle_hashes(tokenize("The quick brown fox jumps over the lazy dog.", 1).hashes, 5)
    assert HASHER.signature(sh)[:4].tolist() == KNOWN_ANSWER


KNOWN_ANSWER = [92949422, 93299707, 1466782127, 1832459144]
