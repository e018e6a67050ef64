import numpy as np
import pytest

from indexes.lsh import band_keys, candidate_probability, lsh_params


def test_params_follow_datasketch_and_fit():
    bands, rows = lsh_params(0.5, 128)
    assert bands * rows <= 128
    assert candidate_probability(0.8, bands, rows) > 0.99
    assert candidate_probability(0.2, bands, rows) < 0.1


def test_threshold_out_of_range():
    with pytest.raises(ValueError, match="threshold"):
        lsh_params(1.5, 128)


def test_equal_bands_give_equal_keys_and_bands_do_not_collide():
    sig = np.arange(12, dtype=np.uint32).reshape(1, 12)
    other = sig.copy()
    other[0, 9] += 1  # only the last band differs
    k1 = band_keys(sig, 3, 4, 1)
    k2 = band_keys(other, 3, 4, 1)
    assert k1[0, :2].tolist() == k2[0, :2].tolist()
    assert k1[0, 2] != k2[0, 2]
    same_values = np.zeros((1, 8), dtype=np.uint32)
    keys = band_keys(same_values, 2, 4, 1)
    assert keys[0, 0] != keys[0, 1]
