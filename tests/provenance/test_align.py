import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes.normalize import tokenize
from provenance.align import align, seeds

WORK = [f"w{i}" for i in range(600)]


def hashes(words):
    return tokenize(" ".join(words), 1).hashes


def test_verbatim_passage_inside_a_longer_text():
    scanned = [f"x{i}" for i in range(100)] + WORK[200:260] + [f"y{i}" for i in range(80)]
    (al,) = align(hashes(scanned), hashes(WORK))
    assert (al.a_start, al.a_end, al.b_start, al.b_end) == (100, 160, 200, 260)
    assert al.matched == al.longest == 60
    assert al.similarity == 1.0
    assert al.containment == 1.0


def test_edits_do_not_split_the_region():
    copied = list(WORK[100:200])
    rng = random.Random(3)
    for pos in rng.sample(range(5, 95), 10):
        copied[pos] = "edited"
    del copied[50]
    copied.insert(70, "inserted")
    scanned = ["a", "b", "c", *copied, "d", "e"]
    (al,) = align(hashes(scanned), hashes(WORK))
    assert al.b_start == 100
    assert al.b_end == 200
    assert 85 <= al.matched <= 90
    assert al.longest < 50
    assert 0.85 < al.similarity < 0.95


def test_two_separate_quotes_are_two_regions():
    scanned = WORK[400:460] + [f"gap{i}" for i in range(40)] + WORK[10:70]
    found = align(hashes(scanned), hashes(WORK))
    assert [(al.b_start, al.b_end) for al in found] == [(400, 460), (10, 70)]


def test_unrelated_texts_share_nothing_and_mask_limits_the_work():
    assert align(hashes([f"z{i}" for i in range(300)]), hashes(WORK)) == []
    scanned = WORK[300:360]
    mask = np.zeros(len(WORK), dtype=bool)
    mask[:100] = True
    assert align(hashes(scanned), hashes(WORK), b_mask=mask) == []


def test_repetitive_seeds_are_ignored():
    work = ["la"] * 500
    ia, _ = seeds(hashes(["la"] * 10), hashes(work), 4)
    assert ia.size == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 500), st.integers(20, 100), st.integers(0, 200))
def test_planted_verbatim_run_is_found_exactly(start, length, prefix):
    copied = WORK[start : start + length]
    scanned = [f"p{i}" for i in range(prefix)] + copied + ["end"]
    found = [al for al in align(hashes(scanned), hashes(WORK)) if al.matched >= 20]
    assert len(found) == 1
    al = found[0]
    assert (al.a_start, al.a_end) == (prefix, prefix + len(copied))
    assert (al.b_start, al.b_end) == (start, start + len(copied))
