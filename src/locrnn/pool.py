"""Map a function over jobs in a process pool, in order, with an optional progress bar.

The data generators and readers cut their work into jobs whose results do not depend on which
process runs them; this is the one place that decides how many processes run them and how
progress is shown. One worker or one job runs in this process (no pool to start).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

J = TypeVar("J")
R = TypeVar("R")


def worker_count(workers: int | None) -> int:
    """The processes to use: ``workers`` if given (at least 1), else every CPU."""
    return max(1, workers or os.cpu_count() or 1)


@contextmanager
def pool_map(
    fn: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int,
    progress: bool = False,
    desc: str = "",
    total: int | None = None,
    unit: str = "it",
    size: Callable[[R], int] | None = None,
) -> Iterator[Iterator[R]]:
    """Yield an iterator over ``fn(job)`` for every job, in job order, computed by up to
    ``workers`` processes (``fn`` and the jobs must pickle).

    With ``progress``, a tqdm bar of ``total`` (labelled ``desc``, counting ``unit``) advances by
    ``size(result)`` for each result consumed; by default ``len(result[0])``, for results that are
    tuples of per-item arrays (images, labels, ...). A worker's exception is raised where its result is
    consumed; on leaving the ``with`` block, normally or not, jobs not yet started are cancelled
    and the bar is closed.
    """
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit=unit)
    pool = ProcessPoolExecutor(min(workers, len(jobs))) if workers > 1 and len(jobs) > 1 else None
    try:
        yield _advancing(pool.map(fn, jobs) if pool else map(fn, jobs), bar, size or _leading_len)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()


def _leading_len(result: Any) -> int:
    return len(result[0])


def _advancing(results: Iterator[R], bar: Any, size: Callable[[R], int]) -> Iterator[R]:
    for result in results:
        yield result
        if bar is not None:
            bar.update(size(result))
