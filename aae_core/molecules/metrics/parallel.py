"""Per-molecule RDKit work in chunks, in worker processes, with progress.

RDKit holds the GIL, so the per-molecule work (canonical SMILES, properties, fragments, filters, fingerprints)
runs in worker processes. They are *spawned* (not forked: the parent may hold torch / OpenMP threads), which
means a script that asks for workers needs the usual ``if __name__ == "__main__":`` guard. The pool is started
on first use and kept for the life of the process (a Streamlit app pays the start-up, about a second per
worker, once); :func:`shutdown_workers` stops it, and it is stopped at exit. Workers ignore Ctrl-C (the parent
handles it) and run torch on one thread. While it collects results, this process computes the chunks no worker
has started yet.

Work goes out in chunks (:func:`chunk_size`: about four per worker, at most :data:`CHUNK` items), so results
come back (and progress is reported) as they finish and nothing holds more than a chunk of RDKit molecules at a
time. With one worker everything runs in this process, chunk by chunk.
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TypeVar

from aae_core.molecules.metrics.progress import Progress, report

__all__ = [
    "CHUNK",
    "MIN_CHUNK",
    "PendingChunks",
    "available_cpus",
    "chunk_size",
    "map_chunks",
    "parallel_map",
    "resolve_jobs",
    "shutdown_workers",
]

#: Most items per chunk sent to a worker: about 0.1 to 3 s of RDKit work.
CHUNK = 1000
#: Fewest items per chunk (below this, sending the chunk costs more than its work saves).
MIN_CHUNK = 64

T = TypeVar("T")
R = TypeVar("R")

_POOLS: dict[int, ProcessPoolExecutor] = {}
_LOCK = threading.Lock()


def available_cpus() -> int:
    """CPUs this process may run on (``os.sched_getaffinity``, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def resolve_jobs(n_jobs: int) -> int:
    """Worker count for ``n_jobs``: itself if positive, :func:`available_cpus` for ``-1`` (or any value < 1)."""
    return n_jobs if n_jobs >= 1 else available_cpus()


def _init_worker() -> None:
    """Workers ignore Ctrl-C (the parent handles it) and run torch / BLAS on one thread (the cores are shared
    with the other workers and the parent)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    if "torch" in sys.modules:  # spawn re-imported the parent's main module (e.g. aae_core.cli), and torch with it
        sys.modules["torch"].set_num_threads(1)


def _pool(workers: int) -> ProcessPoolExecutor:
    with _LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                                  initializer=_init_worker)
        return _POOLS[workers]


def shutdown_workers() -> None:
    """Stop the worker processes (they are started again when next needed)."""
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(wait=False, cancel_futures=True)


atexit.register(shutdown_workers)


class PendingChunks:
    """``func`` over ``items`` in chunks, started now in worker processes (when :func:`resolve_jobs`
    ``(n_jobs) > 1`` and there are at least two chunks) or run in this process when collected.

    Starting the work early lets this process do something else meanwhile (e.g. the Tanimoto kernels while the
    workers compute RDKit descriptors); :meth:`result` or :meth:`outputs` then collect it in order, and this
    process computes itself every chunk that no worker has started yet, so all cores stay busy.
    ``func`` must be picklable: a module-level function or a :func:`functools.partial` of one.
    """

    def __init__(self, func: Callable[[Sequence[T]], R], items: Sequence[T], n_jobs: int = 1,
                 chunk: int | None = None):
        self.func = func
        workers = resolve_jobs(n_jobs)
        chunk = chunk or chunk_size(len(items), workers)
        self.chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
        self.total = len(items)
        workers = min(workers, len(self.chunks))
        self.futures = [_pool(resolve_jobs(n_jobs)).submit(func, c) for c in self.chunks] if workers > 1 else None

    def outputs(self) -> Iterator[tuple[Sequence[T], R]]:
        """Yield ``(chunk, func(chunk))`` in order; a chunk still queued is cancelled and computed here.

        Raises
        ------
        concurrent.futures.process.BrokenProcessPool
            If a worker died (the pool is then dropped, and the next call starts a new one).
        """
        try:
            for i, part in enumerate(self.chunks):
                local = self.futures is None or self.futures[i].cancel()
                yield part, self.func(part) if local else self.futures[i].result()
        except BrokenProcessPool:
            shutdown_workers()
            raise
        finally:
            for future in self.futures or ():
                future.cancel()

    def result(self, progress: Progress | None = None, stage: str = "") -> list[R]:
        """The outputs, one per chunk in order, reporting ``stage`` to ``progress`` (items done of
        :attr:`total`) as they come; see :meth:`outputs`."""
        report(progress, stage, 0, self.total)
        results: list[R] = []
        done = 0
        for part, output in self.outputs():
            results.append(output)
            done += len(part)
            report(progress, stage, done, self.total)
        return results


def chunk_size(n_items: int, workers: int) -> int:
    """Items per chunk: about four chunks per worker, between :data:`MIN_CHUNK` and :data:`CHUNK` items; with one
    worker (everything runs in this process) :data:`CHUNK`, for progress reports."""
    if workers <= 1:
        return min(max(n_items, 1), CHUNK)
    return min(CHUNK, max(MIN_CHUNK, -(-n_items // (4 * workers))))


def map_chunks(func: Callable[[Sequence[T]], R], items: Sequence[T], n_jobs: int = 1, *,
               progress: Progress | None = None, stage: str = "", chunk: int | None = None) -> list[R]:
    """``[func(items[i : i + chunk]) for i in range(0, len(items), chunk)]`` (``chunk`` default
    :func:`chunk_size`), in worker processes when
    :func:`resolve_jobs` ``(n_jobs) > 1`` and there are at least two chunks, reporting ``stage`` to
    ``progress`` as chunks finish (in order). See :class:`PendingChunks`.

    Raises
    ------
    concurrent.futures.process.BrokenProcessPool
        If a worker died (the pool is then dropped, and the next call starts a new one).
    """
    return PendingChunks(func, items, n_jobs, chunk).result(progress, stage)


def _apply(func: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [func(x) for x in chunk]


def parallel_map(func: Callable[[T], R], items: Sequence[T], n_jobs: int = 1, *,
                 progress: Progress | None = None, stage: str = "") -> list[R]:
    """``[func(x) for x in items]`` through :func:`map_chunks` (same arguments; ``func`` takes one item)."""
    parts = map_chunks(functools.partial(_apply, func), items, n_jobs, progress=progress, stage=stage)
    return [y for part in parts for y in part]
