"""Plain-text tables of sweep and halting rows (evaluation/tables.py)."""

from fakes import sweep_results
from locrnn.evaluation.rows import sweep_rows
from locrnn.evaluation.tables import fmt_pct, halting_table, summary_table


def test_the_summary_table_reads_trained_best_last_and_the_onset_of_non_finite_outputs():
    rows = sweep_rows("r", "locrnn", "mazes", 13, sweep_results(), 4)
    rows += sweep_rows("f", "resnet12", "mazes", 9, {None: {"accuracy": 0.3, "n": 5}}, None)
    header, line, ff = summary_table(rows).splitlines()
    assert header.split() == ["difficulty", "@trained", "best", "@best", "max", "steps", "@max", "non-finite", "from"]
    assert line.split() == ["13", "50.0", "8", "80.0", "12", "80.0", "12"]  # best: the fewest steps among equals
    assert ff.split() == ["9", "30.0", "-", "-", "-", "-", "-"]


def test_the_halting_table_has_a_line_per_difficulty():
    rows = [{"difficulty": 9, "accuracy": 0.9, "mean_steps": 7.25, "median_steps": 7, "halted_share": 1.0}]
    assert halting_table(rows).splitlines()[1].split() == ["9", "90.0", "7.2", "7", "100.0"]
    assert fmt_pct(None) == "nan" and fmt_pct(float("nan")) == "nan" and fmt_pct(0.125) == " 12.5"
