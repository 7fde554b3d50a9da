"""A table of the zoo: task, recurrent or not, parameter count beside the paper's."""

from __future__ import annotations

from ._registry import ModelEntry, build_model


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def model_table(entries: list[ModelEntry], task: str | None = None) -> str:
    lines = [f"{'model':<22} {'task':<11} {'recurrent':<9} {'params':>10} {'paper':>10}  summary"]
    for e in entries:
        for t in e.tasks if task is None else [task]:
            n = count_params(build_model(e.name, task=t))
            paper = e.paper_params.get(t)
            lines.append(
                f"{e.name:<22} {t:<11} {'yes' if e.recurrent else 'no':<9} {n:>10,} "
                f"{(f'{paper:,}' if paper else '-'):>10}  {e.summary}"
            )
    return "\n".join(lines)
