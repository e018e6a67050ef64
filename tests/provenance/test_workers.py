"""Pools: the same passages whichever way they are computed, and a task's error raised where replies are run."""

import functools
import multiprocessing
import queue

import numpy as np
import pytest

from indexes import Fingerprinter, IndexParams
from provenance.workers import INLINE_DOCUMENTS, Fingerprinting, Threads

TEXTS = [
    " ".join(f"w{w}" for w in np.random.default_rng(seed).integers(0, 5000, size=size))
    for seed, size in enumerate([3, 40, 400, 2500])
] + ["Ünïcode façade, ﬁne print — naïve words, 東京 and more. " * 20]


def same(a, b):
    parts = ("ranges", "signatures", "keys", "anchor_positions", "anchor_keys")
    return all(np.array_equal(getattr(a, p), getattr(b, p)) for p in parts) and all(
        np.array_equal(getattr(a.tokens, p), getattr(b.tokens, p)) for p in ("hashes", "starts", "ends")
    )


@pytest.mark.parametrize(
    ("workers", "pool", "inline"),
    [(0, "threads", 0), (2, "threads", 0), (2, "processes", 0), (1, "processes", 2)],
    ids=["main-thread", "threads", "processes", "processes-after-two-inline"],
)
def test_passages_are_the_same_in_every_pool(workers, pool, inline):
    fingerprinter = Fingerprinter(IndexParams())
    replies = queue.SimpleQueue()
    found = {}
    fingerprinting = Fingerprinting(fingerprinter, replies, workers=workers, pool=pool, inline=inline)
    try:
        for i, text in enumerate(TEXTS):
            fingerprinting.submit(text, functools.partial(found.__setitem__, i))
        for _ in TEXTS:
            replies.get(timeout=120)()  # a hang guard, not a speed test
    finally:
        fingerprinting.close(wait=True)
    assert sorted(found) == list(range(len(TEXTS)))
    assert all(same(found[i], fingerprinter.passages(fingerprinter.tokenize(t))) for i, t in enumerate(TEXTS))


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_a_failure_in_the_pool_is_raised_where_the_replies_are_run(pool):
    replies = queue.SimpleQueue()
    fingerprinting = Fingerprinting(Fingerprinter(IndexParams()), replies, workers=1, pool=pool, inline=0)
    try:
        fingerprinting.submit(None, print)  # not a text
        with pytest.raises((TypeError, AttributeError)):
            replies.get(timeout=120)()
    finally:
        fingerprinting.close(wait=True)


def test_a_thread_task_that_raises_raises_in_the_thread_that_runs_its_reply():
    replies = queue.SimpleQueue()
    threads = Threads(2, replies, name="test")

    def broken():
        raise ValueError("from a pool thread")

    threads.submit(broken)
    threads.submit(lambda: functools.partial(replies.put, "fine"))
    outcomes = []
    for _ in range(2):
        try:
            replies.get(timeout=60)()
            outcomes.append("ran")
        except ValueError as exc:
            outcomes.append(str(exc))
    threads.close()
    assert sorted(outcomes) == ["from a pool thread", "ran"]
    assert replies.get(timeout=60) == "fine"


def test_pools_refuse_sizes_that_cannot_work():
    with pytest.raises(ValueError, match="at least one thread"):
        Threads(0, queue.SimpleQueue(), name="test")
    with pytest.raises(ValueError, match="0 \\(the main thread\\) or more"):
        Fingerprinting(Fingerprinter(IndexParams()), queue.SimpleQueue(), workers=-1)


def test_a_few_documents_start_no_pool():
    replies = queue.SimpleQueue()
    fingerprinting = Fingerprinting(Fingerprinter(IndexParams()), replies, workers=2, pool="processes")
    for text in (TEXTS * 2)[:INLINE_DOCUMENTS]:
        fingerprinting.submit(text, print)
        replies.get(timeout=60)
    assert multiprocessing.active_children() == []
    fingerprinting.close(wait=True)
