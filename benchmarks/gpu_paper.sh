#!/usr/bin/env bash
# The paper-scale evidence that fits in one short GPU lease, in one command (one CUDA GPU):
#
#   Fig. 2, and Figs. 4 and 7 from the same runs: LocRNN, ConvGRU, R-ResNet-36 and ResNet-36
#     trained on 11x11 mazes with the paper's recipe (`locrnn reproduce fig2 --scale paper`),
#     side by side on the one GPU, each stopped at MAZE_BUDGET seconds with its schedule
#     stretched to fit (`--time-budget`); swept on 9/13 (Fig. 2) and 11 (Figs. 4, 7).
#   Fig. 3A: LocRNN on PathFinder-14 at 150 px (the pathfinder-paper recipe, 200,000 images
#     drawn in memory), stopped at PF_BUDGET seconds; swept on 9/14/18 by steps.
#
#   bash benchmarks/gpu_paper.sh                # the real thing
#   bash benchmarks/gpu_paper.sh --smoke        # seconds-long runs on any device (checks the script)
#
# Settings (environment): LOCRNN_PY (a python with torch and locrnn; default .venv/bin/python),
# MAZE_BUDGET (330 s), PF_BUDGET (300 s), N_TEST (5000 per difficulty), DEADLINE (530 s: what
# still runs then is stopped), ROOT (results/paper; --smoke: its sibling gpu-smoke), PACK (a folder: the results, logs and best
# weights are packed there as two .tar.gz files). A run that dies in the first minutes stops
# everything at once, so that a short lease is not spent waiting.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${LOCRNN_PY:-.venv/bin/python}"
SCALE=paper
MAZE_BUDGET="${MAZE_BUDGET:-330}"
PF_BUDGET="${PF_BUDGET:-300}"
N_TEST="${N_TEST:-5000}"
DEADLINE="${DEADLINE:-530}"
ROOT="${ROOT:-results/paper}"
PACK="${PACK:-}"
if [ "${1:-}" = "--smoke" ]; then
  SCALE=smoke; MAZE_BUDGET=5; PF_BUDGET=5; N_TEST=16; DEADLINE=240; ROOT="${ROOT%/paper}/gpu-smoke"
fi
LOGS="$ROOT/logs"
mkdir -p "$LOGS"
START=$(date +%s)
elapsed() { echo $(($(date +%s) - START)); }
say() { echo "[gpu_paper $(elapsed) s] $*"; }

"$PY" - <<'EOF'
import torch
dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
print(f"torch {torch.__version__}, {dev}, {torch.get_num_threads()} threads")
EOF
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

reproduce() {  # FIGURE BUDGET [more flags]: one `locrnn reproduce` at this scale, stopped at the deadline
  local fig=$1 budget=$2
  shift 2
  timeout --signal=INT --kill-after=10 $((DEADLINE - $(elapsed))) "$PY" -m locrnn reproduce "$fig" --scale "$SCALE" \
    --root "$ROOT" --time-budget "$budget" --compile off --n-test "$N_TEST" "$@"
}

mazes() {
  local t0
  for fig in fig2 fig7 fig4; do  # fig7 and fig4 reuse fig2's runs (the same recipe and budget)
    t0=$(date +%s)
    if [ "$fig" = fig2 ]; then reproduce fig2 "$MAZE_BUDGET" --jobs 4; else reproduce "$fig" "$MAZE_BUDGET"; fi \
      || { say "$fig failed (exit $?)"; return 1; }
    say "$fig done in $(($(date +%s) - t0)) s"
  done
}

pathfinder() {
  local t0
  t0=$(date +%s)
  reproduce fig3a "$PF_BUDGET" || { say "fig3a failed (exit $?)"; return 1; }
  say "fig3a done in $(($(date +%s) - t0)) s"
}

say "start: mazes budget $MAZE_BUDGET s per run, PathFinder $PF_BUDGET s, deadline $DEADLINE s, $N_TEST test samples"
mazes >"$LOGS/mazes.log" 2>&1 &
MAZES=$!
pathfinder >"$LOGS/pathfinder.log" 2>&1 &
PATHFINDER=$!

early_failure() {  # a traceback in any log in the first minutes: the lease is better spent on a fix
  [ "$(elapsed)" -lt 180 ] && grep -lq "Traceback" "$LOGS"/*.log "$ROOT"/runs/"$SCALE"/.*.out 2>/dev/null
}

status() {  # one line per run: images trained, last loss, best validation so far
  for m in "$ROOT"/runs/"$SCALE"/*/metrics.jsonl; do
    [ -f "$m" ] || continue
    "$PY" - "$m" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
loss = [r["loss"] for r in rows if "loss" in r]
val = [r["val_accuracy"] for r in rows if "val_accuracy" in r]
last = rows[-1] if rows else {}
print(f"  {sys.argv[1].split('/')[-2]}: {last.get('images', 0):,} images, {last.get('seconds', 0):.0f} s, "
      f"loss {loss[-1] if loss else float('nan'):.4f}, best validation {100 * max(val) if val else float('nan'):.1f}%")
EOF
  done
}

while kill -0 $MAZES 2>/dev/null || kill -0 $PATHFINDER 2>/dev/null; do
  sleep 5
  if early_failure; then
    say "a run failed early; stopping everything:"
    grep -h -B2 -A12 "Traceback" "$LOGS"/*.log "$ROOT"/runs/"$SCALE"/.*.out 2>/dev/null | tail -60
    pkill -INT -P $MAZES; pkill -INT -P $PATHFINDER; sleep 3
    pkill -KILL -f "locrnn reproduce" 2>/dev/null
    break
  fi
  if [ $(($(elapsed) % 60)) -lt 5 ]; then say "status"; status; fi
done
wait $MAZES; MAZES_RC=$?
wait $PATHFINDER; PF_RC=$?
say "mazes exit $MAZES_RC, pathfinder exit $PF_RC"
tail -n 25 "$LOGS/mazes.log" "$LOGS/pathfinder.log"
status

for fig in fig2 fig7 fig4 fig3a; do
  [ -f "$ROOT/$fig/README.md" ] && { echo; sed -n '/^| run | budget/,/^$/p;/^## Measured/,/^Sample efficiency/p' "$ROOT/$fig/README.md"; }
done

if [ -n "$PACK" ]; then
  mkdir -p "$PACK"
  cp "$ROOT"/runs/"$SCALE"/.*.out "$LOGS"/ 2>/dev/null
  tar -czf "$PACK/results.tar.gz" --exclude='*.safetensors' --exclude='*.pt' --exclude='runs' "$ROOT"
  (cd "$ROOT/runs/$SCALE" && tar -czf - */config.json */summary.json */metrics.jsonl */best.json */best.safetensors \
    2>/dev/null) >"$PACK/runs.tar.gz"
  ls -la "$PACK"
fi
say "end"
