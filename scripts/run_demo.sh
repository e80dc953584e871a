#!/usr/bin/env bash
# The demo: every retrain-side stage of the project on the generated street-scene data set.
#   bash scripts/run_demo.sh [OUTPUT_DIR]
# Stages (each skipped when its result already exists, so a re-run resumes):
#   1 generate the data set   2 MindRecord   3 train (config/demo.yaml)   4 evaluate
#   5 export MINDIR + ONNX    6 predict colour masks for the val images
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-demo_output}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"

stage() { echo; echo "=== [$(date +%H:%M:%S)] $1"; }

stage "1/6 demo data set -> $OUT/cityscapes"
[ -d "$OUT/cityscapes/gtFine/val" ] || \
  "$PY" -m src.data.synthetic --output_path "$OUT/cityscapes" --num_train 48 --num_val 12 \
        --height 256 --width 512 --seed 0

stage "2/6 MindRecord -> $OUT/mindrecord"
for split in train val; do
  [ -f "$OUT/mindrecord/cityscapes_$split.mindrecord" ] || \
    "$PY" build_mindrecord.py --data_path "$OUT/cityscapes" --output_path "$OUT/mindrecord" --split "$split"
done

stage "3/6 train -> $OUT/train"
CKPT=$(ls "$OUT"/train/checkpoints/*.ckpt 2>/dev/null | sort | tail -n 1 || true)
if [ ! -f "$OUT/train/done" ]; then
  RESUME=()
  [ -n "$CKPT" ] && RESUME=(--resume "$CKPT")
  "$PY" train.py --config_path config/demo.yaml --data_path "$OUT/mindrecord" \
        --output_path "$OUT/train" "${RESUME[@]}"
  touch "$OUT/train/done"
  CKPT=$(ls "$OUT"/train/checkpoints/*.ckpt | sort | tail -n 1)
fi

stage "4/6 evaluate -> $OUT/eval"
[ -f "$OUT/eval/eval_results.json" ] || \
  "$PY" eval.py --config_path config/demo.yaml --data_path "$OUT/mindrecord" --ckpt_path "$CKPT" \
        --output_path "$OUT/eval"

stage "5/6 export MINDIR and ONNX -> $OUT/export"
for fmt in MINDIR ONNX; do
  ls "$OUT"/export/*."${fmt,,}" >/dev/null 2>&1 || \
    "$PY" export.py --config_path config/demo.yaml --ckpt_path "$CKPT" --file_format "$fmt" \
          --output_path "$OUT/export"
done

stage "6/6 predict the val images -> $OUT/predict"
[ -d "$OUT/predict/color" ] || \
  "$PY" predict.py --config_path config/demo.yaml --model "$CKPT" \
        --input "$(ls -d "$OUT"/cityscapes/leftImg8bit/val/*/ | head -n 1)" --output_path "$OUT/predict"

echo; echo "demo finished: results in $OUT (eval: $OUT/eval/eval_results.json)"
