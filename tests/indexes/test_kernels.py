"""The compiled kernels (numba) and the numpy routes must give bit-identical fingerprints."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes import _kernels
from indexes.fingerprint import Fingerprinter
from indexes.params import IndexParams

pytestmark = pytest.mark.skipif(not _kernels.available(), reason="numba is not installed (pip install numba)")

TEXTS = st.text(alphabet=st.sampled_from(list("abcXYZ 019.,;—“”é東😀\u0301\n")), max_size=400)


def fingerprints(text):
    fp = Fingerprinter(IndexParams(passage_words=12, passage_stride=4, shingle_words=3))
    passages = fp.passages(fp.tokenize(text), stride=2)
    return (
        passages.tokens.hashes.tolist(),
        passages.tokens.starts.tolist(),
        passages.tokens.ends.tolist(),
        passages.signatures.tolist(),
        passages.keys.tolist(),
        passages.anchor_keys.tolist(),
    )


@settings(max_examples=60, deadline=None)
@given(TEXTS)
def test_compiled_and_numpy_routes_agree(text):
    compiled = fingerprints(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_kernels, "available", lambda: False)
        plain = fingerprints(text)
    assert compiled == plain


def test_compiled_block_minima_on_a_large_input():
    fp = Fingerprinter(IndexParams())
    sh = np.random.default_rng(5).integers(0, 2**63, 10_000).astype(np.uint64)
    compiled = fp.minhasher.block_minima(sh, 10)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_kernels, "available", lambda: False)
        plain = fp.minhasher.block_minima(sh, 10)
    assert (compiled == plain).all()


def batch_fingerprints(texts, stride):
    fp = Fingerprinter(IndexParams(passage_words=12, passage_stride=4, shingle_words=3))
    batch = fp.passages_many(fp.tokenize_many(texts), stride=stride)
    return [
        (p.ranges.tolist(), p.signatures.tolist(), p.keys.tolist(), p.anchor_positions.tolist(), p.anchor_keys.tolist())
        for p in map(batch.passages, range(len(texts)))
    ]


@settings(max_examples=40, deadline=None)
@given(st.lists(TEXTS, max_size=6), st.sampled_from([2, 3, 4, 7]))
def test_compiled_batch_equals_numpy_route_text_by_text(texts, stride):
    compiled = batch_fingerprints(texts, stride)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_kernels, "available", lambda: False)
        plain = batch_fingerprints(texts, stride)
    assert compiled == plain
