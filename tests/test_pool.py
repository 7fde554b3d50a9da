"""The process-pool helper: results in job order, in this process for one worker or one job,
a worker's error raised where its result is read, and a progress bar counting items."""

import os

import pytest

from locrnn.pool import pool_map, worker_count

JOBS = ["3", "1", "4", "1", "5"]


def test_worker_count_defaults_to_every_cpu_and_is_at_least_one():
    assert worker_count(None) == worker_count(0) == (os.cpu_count() or 1)
    assert worker_count(3) == 3 and worker_count(-2) == 1


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_job_order(workers):
    with pool_map(int, JOBS, workers=workers) as results:
        assert list(results) == [3, 1, 4, 1, 5]


def test_one_worker_or_one_job_runs_here_without_pickling():
    unpicklable = lambda s: int(s) * 2  # noqa: E731
    for workers, jobs in ((1, JOBS), (4, JOBS[:1])):
        with pool_map(unpicklable, jobs, workers=workers) as results:
            assert list(results) == [2 * int(j) for j in jobs]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_workers_error_is_raised_where_its_result_is_read(workers):
    seen = []
    with pytest.raises(ValueError, match="invalid literal"):
        with pool_map(int, ["1", "2", "x", "4"], workers=workers) as results:
            for r in results:
                seen.append(r)
    assert seen == [1, 2]


def test_the_bar_counts_the_items_of_each_result(capsys):
    jobs = [(["a", "b"],), (["c"],), (["d", "e", "f"],)]
    with pool_map(tuple, jobs, workers=1, progress=True, desc="letters", total=6, unit="letter") as results:
        assert [len(r[0]) for r in results] == [2, 1, 3]
    err = capsys.readouterr().err
    assert "letters" in err and "6/6" in err
