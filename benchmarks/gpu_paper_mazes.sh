#!/usr/bin/env bash
# LocRNN on medium (11x11) mazes with the paper's recipe, on one GPU, timed end to end.
#
#   bash benchmarks/gpu_paper_mazes.sh                 # the real thing (meant for one CUDA GPU)
#   bash benchmarks/gpu_paper_mazes.sh --smoke         # tiny sizes on the CPU path (checks the script)
#   bash benchmarks/gpu_paper_mazes.sh --out DIR [extra locrnn train options, e.g. --epochs 10]
#
# Steps: generate 50,000 training mazes of size 11 (the public set's size; the paper preset
# splits 40,000 / 10,000), train `--preset paper` (Adam 1e-3, batch 256, 50 epochs, warm-up
# then step decay; bf16 autocast, pinned-memory loading and a compiled training step switch on
# by themselves on CUDA), then score held-out mazes of size 11 and 13 at 15, 30 and 60 steps.
# Prints wall time per phase, training images/s and accuracy, and writes OUT/report.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${LOCRNN_VENV:-.venv}/bin/python"
OUT="runs/gpu_paper_mazes"
SMOKE=0
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) SMOKE=1 ;;
    --out) OUT="$2"; shift ;;
    *) EXTRA+=("$1") ;;
  esac
  shift
done

if [ "$SMOKE" = 1 ]; then
  SIZE=5; N_DATA=320; TEST_SIZES=5,7; N_TEST=64; STEPS=2,4
  TRAIN=(--n-train 256 --n-val 64 --epochs 1 --batch-size 32 --width 8 --steps 4 --device cpu)
else
  SIZE=11; N_DATA=50000; TEST_SIZES=11,13; N_TEST=10000; STEPS=15,30,60
  TRAIN=()
  if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_paper_mazes: no CUDA device; this run is meant for a GPU (use --smoke to check the script)" >&2
    exit 2
  fi
fi
mkdir -p "$OUT"
DATA="$OUT/data"
RUN_NAME="paper-mazes$SIZE"
rm -rf "$OUT/runs/$RUN_NAME"
"$PY" - <<'EOF'
import torch
dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
print(f"gpu_paper_mazes: torch {torch.__version__} on {dev}")
EOF

now() { date +%s.%N; }
t0=$(now)
"$PY" -m locrnn data mazes --size "$SIZE" --split train --n "$N_DATA" --root "$DATA" --overwrite
t1=$(now)
"$PY" -m locrnn train --task mazes --size "$SIZE" --preset paper --data-root "$DATA" \
  --out "$OUT/runs" --name "$RUN_NAME" --progress false "${TRAIN[@]}" "${EXTRA[@]}"
t2=$(now)
"$PY" -m locrnn sweep "$OUT/runs/$RUN_NAME" --sizes "$TEST_SIZES" --steps "$STEPS" --n "$N_TEST" \
  --out "$OUT/runs/$RUN_NAME/sweep"
t3=$(now)

"$PY" - "$OUT" "$RUN_NAME" "$t0" "$t1" "$t2" "$t3" <<'EOF'
import csv, json, sys
from pathlib import Path

from locrnn.runtime import pick_compile, pick_device, pick_dtype

out, name = Path(sys.argv[1]), sys.argv[2]
t0, t1, t2, t3 = map(float, sys.argv[3:7])
run = out / "runs" / name
summary = json.loads((run / "summary.json").read_text())
config = json.loads((run / "config.json").read_text())
rows = list(csv.DictReader(open(run / "sweep" / "sweep.csv")))
report = {
    "data_seconds": t1 - t0,
    "train_seconds": t2 - t1,
    "sweep_seconds": t3 - t2,
    "total_seconds": t3 - t0,
    "train_images_per_second": summary["images_per_second"],
    "best_val_accuracy": summary["best_val_accuracy"],
    "test_accuracy": {f"size {r['difficulty']}, {r['steps']} steps": float(r["accuracy"]) for r in rows},
    "config": {k: config[k] for k in ("size", "n_train", "n_val", "epochs", "batch_size", "lr", "schedule")},
}
device = pick_device(config["device"])
report["runtime"] = {
    "device": str(device),
    "autocast": str(pick_dtype(config["precision"], device)),
    "compiled": pick_compile(config["compile"], device),
}
(out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
print(f"\ndata {report['data_seconds']:.0f} s, training {report['train_seconds']:.0f} s "
      f"({report['train_images_per_second']:.0f} images/s), sweep {report['sweep_seconds']:.0f} s, "
      f"total {report['total_seconds']:.0f} s")
print(f"runtime: {report['runtime']}")
print(f"best validation accuracy {100 * report['best_val_accuracy']:.1f}%")
for k, v in report["test_accuracy"].items():
    print(f"test accuracy, {k}: {100 * v:.1f}%")
print(f"report: {out / 'report.json'}")
EOF
