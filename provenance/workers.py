"""Pools that add works side by side: fetch threads, and fingerprinting off the main thread.

The main thread alone writes to the index. Pools hand their results back to it as *replies*: callables
put on one queue, which the main thread takes and runs one at a time. Each submitted task puts exactly
one reply, so the caller knows what is still out by counting.

Fetching (HTTP, yt-dlp, files) waits on the network or the disk, so it runs in daemon threads: Ctrl-C
never waits for a slow server, and the threads end with the process. Fingerprinting (tokenize and
passages) runs in threads (the compiled kernels release the GIL, DuckDB's writes do too) or in
processes started with ``spawn`` (never ``fork``: the parent runs DuckDB's threads). Threads are the
default: measured with ``benchmarks/catalog.py``, processes lose more to start-up (seconds: each imports
numpy and the kernels) and to copying texts and arrays than they gain, while the index's writes, one
transaction per work in the main thread, take most of the time anyway. The first few documents are
fingerprinted in the main thread, so small runs start no pool at all.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing
import os
import queue
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Literal

from indexes import Fingerprinter, IndexParams, Passages

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

FingerprintPool = Literal["threads", "processes"]
DEFAULT_POOL: FingerprintPool = "threads"
INLINE_DOCUMENTS = 8
"""Documents fingerprinted in the main thread before a pool starts: small runs never pay its start-up."""


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _reraise(exc: BaseException) -> None:
    """A reply that raises, in the main thread, what a task raised in a pool."""
    raise exc


class Threads:
    """Up to ``size`` daemon threads running tasks; what a task returns is its reply, put on ``replies``.

    A task that raises gets a reply raising the same exception. Threads start as tasks arrive, up to
    ``size``. ``backlog`` bounds the tasks submitted and not yet started (more is a caller's bug and
    raises ``queue.Full``); 0 leaves the bound to the caller.
    """

    def __init__(
        self, size: int, replies: queue.SimpleQueue[Callable[[], None]], *, name: str, backlog: int = 0
    ) -> None:
        if size < 1:
            raise ValueError(f"a pool needs at least one thread, not {size}")
        self.size = size
        self.replies = replies
        self._name = name
        self._tasks: queue.Queue[Callable[[], Callable[[], None]] | None] = queue.Queue(maxsize=backlog)
        self._threads: list[threading.Thread] = []

    def submit(self, task: Callable[[], Callable[[], None]]) -> None:
        """Run ``task`` in a thread; its reply goes on the queue."""
        self._tasks.put_nowait(task)
        if len(self._threads) < self.size:
            thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def close(self) -> None:
        """Drop the tasks not started and let each thread end after its current one, without waiting for it."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._tasks.get_nowait()
        for _ in self._threads:
            with contextlib.suppress(queue.Full):  # a backlog smaller than the threads: they end on their own
                self._tasks.put_nowait(None)

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                reply = task()
            except BaseException as exc:  # noqa: BLE001 - every task gets a reply, or the main thread would wait forever
                reply = functools.partial(_reraise, exc)
            self.replies.put(reply)


class Fingerprinting:
    """Passages of documents' texts: the first few in the main thread, then in ``workers`` threads or processes.

    ``workers=0`` keeps every text in the main thread. ``submit(text, then)`` puts one reply on
    ``replies`` that calls ``then(passages)``; passages are the same whichever way they were computed.
    The pool starts on first use past ``inline`` documents and is closed by ``close``.
    """

    def __init__(
        self,
        fingerprinter: Fingerprinter,
        replies: queue.SimpleQueue[Callable[[], None]],
        *,
        workers: int,
        pool: FingerprintPool = DEFAULT_POOL,
        inline: int = INLINE_DOCUMENTS,
    ) -> None:
        if workers < 0:
            raise ValueError(f"fingerprint workers must be 0 (the main thread) or more, not {workers}")
        self.fingerprinter = fingerprinter
        self.workers = workers
        self.pool = pool
        self.replies = replies
        self._inline_left = inline
        self._threads: Threads | None = None
        self._processes: ProcessPoolExecutor | None = None

    def submit(self, text: str, then: Callable[[Passages], None]) -> None:
        """Fingerprint ``text``; the reply calls ``then`` with its passages (in the main thread)."""
        if self.workers == 0 or self._inline_left > 0:
            self._inline_left -= 1
            self.replies.put(functools.partial(then, _passages(self.fingerprinter, text)))
        elif self.pool == "threads":
            if self._threads is None:
                self._threads = Threads(self.workers, self.replies, name="provenance-fingerprint")
            self._threads.submit(lambda: functools.partial(then, _passages(self.fingerprinter, text)))
        else:
            future = self._executor().submit(_passages_in_worker, text)
            future.add_done_callback(functools.partial(self._answer, then))

    @property
    def capacity(self) -> int:
        """Documents worth keeping submitted at once: enough to keep every worker busy."""
        return 2 * max(self.workers, 1)

    def close(self, *, wait: bool) -> None:
        """Stop the pool: with ``wait``, let processes exit; else drop what has not started and return now."""
        if self._threads is not None:
            self._threads.close()
        if self._processes is not None:
            self._processes.shutdown(wait=wait, cancel_futures=True)

    def _executor(self) -> ProcessPoolExecutor:
        if self._processes is None:
            self._processes = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),  # never fork a process that has run DuckDB threads
                initializer=_start_worker,
                initargs=(self.fingerprinter.params.to_json(),),
            )
        return self._processes

    def _answer(self, then: Callable[[Passages], None], future: Future[Passages]) -> None:
        """In the pool's thread: hand a finished future to the main thread (a cancelled one needs no answer)."""
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.replies.put(functools.partial(_reraise, exc))
        else:
            self.replies.put(functools.partial(then, future.result()))


def _passages(fingerprinter: Fingerprinter, text: str) -> Passages:
    return fingerprinter.passages(fingerprinter.tokenize(text))


_worker: dict[str, Fingerprinter] = {}


def _start_worker(params: str) -> None:
    """In a new worker process: die with the parent, leave Ctrl-C to it, and make the fingerprinter."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the pool; no traceback per worker
    _worker["fingerprinter"] = Fingerprinter(IndexParams.from_json(params))


def _passages_in_worker(text: str) -> Passages:
    return _passages(_worker["fingerprinter"], text)
