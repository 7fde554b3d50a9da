"""Tidy rows (evaluation/rows.py): one dict per (run, difficulty, steps), written as CSV and JSON."""

import csv
import json

from fakes import sweep_results
from locrnn.evaluation.rows import sweep_rows, write_rows


def test_sweep_rows_come_in_step_order_with_the_runs_columns():
    rows = sweep_rows("r", "locrnn", "mazes", 13, sweep_results(), 4)
    assert [r["steps"] for r in rows] == [1, 4, 8, 12]
    assert rows[0] == {"run": "r", "model": "locrnn", "task": "mazes", "difficulty": 13, "steps": 1,
                       "trained_steps": 4, "accuracy": 0.1, "n": 10, "nonfinite": 0.0}  # fmt: skip
    ff = sweep_rows("r", "resnet12", "mazes", 9, {None: {"accuracy": 0.3, "n": 5}}, None)
    assert [r["steps"] for r in ff] == [None]


def test_written_rows_put_the_identifying_columns_first_whatever_their_order(tmp_path):
    rows = [{"accuracy": 0.5, "steps": 2, "run": "a", "extra": 1}, {"run": "b", "steps": 3, "accuracy": 0.7}]
    csv_path, json_path = write_rows(rows, tmp_path, stem="s")
    with open(csv_path, newline="") as f:
        read = list(csv.reader(f))
    assert read[0] == ["run", "steps", "accuracy", "extra"]
    assert read[2] == ["b", "3", "0.7", ""]
    assert json.loads(json_path.read_text()) == rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.json"]  # atomically: no temporaries
