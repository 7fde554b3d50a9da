"""Stand-ins shared by tests: a progress bar that records what it was told, and sweep results."""


class FakeBar:
    """Stands in for tqdm: keeps the count, the total and the last postfix (``made`` lists every bar)."""

    made: list = []

    def __init__(self, total, **kw):
        self.total, self.n, self.postfix, self.closed = total, 0, "", False
        FakeBar.made.append(self)

    def update(self, k):
        self.n += k

    def set_postfix_str(self, s, refresh=True):
        self.postfix = s

    def close(self):
        self.closed = True


def sweep_results() -> dict:
    """Scores at four step counts, out of order, the last with non-finite outputs."""
    return {
        4: {"accuracy": 0.5, "n": 10, "nonfinite": 0.0},
        1: {"accuracy": 0.1, "n": 10, "nonfinite": 0.0},
        8: {"accuracy": 0.8, "n": 10, "nonfinite": 0.0},
        12: {"accuracy": 0.8, "n": 10, "nonfinite": 0.2},
    }
