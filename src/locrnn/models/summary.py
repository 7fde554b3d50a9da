"""A table of the zoo: task, recurrent or not, trained steps, parameter count beside the paper's.

"paper" is the count of the LocRNN authors' code (``reference/locrnn-seed-code.md`` §6; the
paper's appendix tables give layers, not counts) or, for ``dt_recall``, DeepThinking's. Every
difference from it is explained in :data:`PARAM_NOTES`, printed under the table.
"""

from __future__ import annotations

from ._registry import ModelEntry, make_model

_STEM_HEAD_BIASES = "+104: this stem and head convs have biases (64 + 32 + 8), the authors' have none"

# (name, task) -> why the count differs from the reference, or why there is none
PARAM_NOTES: dict[tuple[str, str], str] = {
    ("locrnn", "mazes"): "-8,448: the authors' code creates an unused LayerNorm (128) and, with the default "
    "zero init, the initial-state embeddings are not built (8,320; init='embed' builds them)",
    ("locrnn", "pathfinder"): "-2,112: the authors' code creates initial-state embeddings it never uses",
    ("convgru", "mazes"): "= the authors' code (64 ch, 5x5)",
    ("convgru", "pathfinder"): "the authors' config (hidden 24) crashed on the 32-ch stem; hidden 32 here "
    "(hidden=24 works: 338,400)",
    ("convgru_relu", "mazes"): "same layers as convgru (only the candidate nonlinearity differs)",
    ("convgru_relu", "pathfinder"): "same layers as convgru",
    ("hconvgru", "mazes"): "-256: h_0 = 0 makes step 0's two h-side BNs inert, so they are not created; "
    "the authors' count is for T = 15 (+512 per trained step)",
    ("hconvgru", "pathfinder"): "the authors' config (38 ch) crashed on the 32-ch stem; 32 ch here",
    ("hconvgru_shared", "mazes"): "4 BNs shared over steps instead of 4 per step (cf. hgru.py)",
    ("hconvgru_shared", "pathfinder"): "4 BNs shared over steps",
    ("cornet_s", "mazes"): "not in the authors' code; bottleneck x2 and 5x5 (see CORnetSCell)",
    ("cornet_s", "pathfinder"): "not in the authors' code; bottleneck x2 and 9x9 (see CORnetSCell)",
    ("convrnn", "mazes"): "not in the authors' code; six 5x5 convs, like ConvGRU's budget",
    ("convrnn", "pathfinder"): "not in the authors' code; six 9x9 convs",
    ("resnet12", "mazes"): _STEM_HEAD_BIASES + "; reference = §6's per-depth formula (20 and 44 measured)",
    ("resnet20", "mazes"): _STEM_HEAD_BIASES,
    ("resnet36", "mazes"): _STEM_HEAD_BIASES + "; reference = §6's per-depth formula (20 and 44 measured)",
    ("rresnet12", "mazes"): _STEM_HEAD_BIASES,
    ("rresnet20", "mazes"): _STEM_HEAD_BIASES,
    ("rresnet36", "mazes"): _STEM_HEAD_BIASES,
    ("resnet10", "pathfinder"): "-110: the authors' resnet_thin counts an unused fc; its frozen stem was "
    "random (init overwrote the Gabor bank), ours is Gabor",
    ("resnet18", "pathfinder"): "-110: unused fc, as resnet10",
    ("rresnet10", "pathfinder"): "the authors' r_resnet branch was never implemented",
    ("rresnet18", "pathfinder"): "the authors' r_resnet branch was never implemented",
    ("dt_recall", "mazes"): "reference = DeepThinking's dt_net_recall_2d at width 128; +40: head biases",
    ("dt_recall", "pathfinder"): "not in the paper (Gabor stem, width 32, 12 steps)",
}


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def model_table(entries: list[ModelEntry], task: str | None = None) -> str:
    """One line per (model, task), then the notes that explain each difference from the paper."""
    lines = [f"{'model':<18} {'task':<11} {'recurrent':<9} {'T':>3} {'params':>10} {'paper':>10} {'diff':>7}  summary"]
    notes = []
    for e in entries:
        for t in e.tasks if task is None else [task]:
            model = make_model(e.name, task=t)
            n = count_params(model)
            paper = e.paper_params.get(t)
            diff = f"{100 * (n - paper) / paper:+.1f}%" if paper else "-"
            steps = getattr(model, "trained_steps", None) if e.recurrent else None
            lines.append(
                f"{e.name:<18} {t:<11} {'yes' if e.recurrent else 'no':<9} {steps or '-':>3} {n:>10,} "
                f"{(f'{paper:,}' if paper else '-'):>10} {diff:>7}  {e.summary}"
            )
            if (e.name, t) in PARAM_NOTES:
                notes.append(f"  {e.name} ({t}): {PARAM_NOTES[e.name, t]}")
    if notes:
        lines += ["", "params vs paper (authors' code counts, reference/locrnn-seed-code.md §6):", *notes]
    return "\n".join(lines)
