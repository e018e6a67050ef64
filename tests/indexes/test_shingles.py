import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from indexes.shingles import shingle_hashes, windows


def test_shingles_are_order_sensitive_and_position_free():
    a = np.array([1, 2, 3, 4, 5, 6], dtype=np.uint64)
    sh = shingle_hashes(a, 3)
    assert sh.shape == (4,)
    assert len(set(sh.tolist())) == 4
    b = np.array([9, 1, 2, 3], dtype=np.uint64)
    assert shingle_hashes(b, 3)[1] == sh[0]
    c = np.array([2, 1, 3], dtype=np.uint64)
    assert shingle_hashes(c, 3)[0] != sh[0]


def test_too_short_for_a_shingle():
    assert shingle_hashes(np.array([1, 2], dtype=np.uint64), 3).shape == (0,)


def test_windows_cover_the_tail():
    w = windows(57, 20, 10)
    assert w.tolist() == [[0, 20], [10, 30], [20, 40], [30, 50], [37, 57]]


def test_short_text_is_one_window_and_empty_has_none():
    assert windows(7, 20, 10).tolist() == [[0, 7]]
    assert windows(0, 20, 10).shape == (0, 2)


@given(st.integers(1, 500), st.integers(1, 60), st.integers(1, 60))
def test_every_token_is_in_some_window(n, size, stride):
    stride = min(stride, size)
    w = windows(n, size, stride)
    covered = np.zeros(n, dtype=bool)
    for s, e in w.tolist():
        assert 0 <= s < e <= n
        assert e - s == min(size, n)
        covered[s:e] = True
    assert covered.all()
