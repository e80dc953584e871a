#!/usr/bin/env bash
# The demo: every stage of the project on the generated street-scene data set, on any machine.
#   bash scripts/run_demo.sh [OUTPUT_DIR]
# Stages (each skipped when its result already exists, so a re-run resumes where it stopped):
#   1 generate the data set  2 MindRecord  3 architecture search  4 decode  5 retrain the found
#   architecture  6 evaluate  7 export MINDIR + ONNX  8 predict colour masks  9 OUTPUT_DIR/report.md
# Settings: config/demo_search.yaml (search) and config/demo.yaml (retrain, eval, export, predict).
# Environment (for smaller runs, e.g. the tests): DEMO_SEARCH_CONFIG, DEMO_CONFIG (other YAML files),
# DEMO_DATA="NUM_TRAIN NUM_VAL HEIGHT WIDTH" (default "96 12 256 512"), PYTHON (default python).
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-demo_output}" && cd "${1:-demo_output}" && pwd)"
PY="${PYTHON:-python}"
SEARCH_CONFIG="${DEMO_SEARCH_CONFIG:-$ROOT/config/demo_search.yaml}"
CONFIG="${DEMO_CONFIG:-$ROOT/config/demo.yaml}"
read -r NUM_TRAIN NUM_VAL HEIGHT WIDTH <<< "${DEMO_DATA:-96 12 256 512}"
ARCH="$OUT/arch/architecture.json"
cd "$ROOT"

# run_stage NAME DONE_PATH FUNCTION: run FUNCTION unless DONE_PATH exists; log its wall time.
run_stage() {
  echo; echo "=== [$(date +%H:%M:%S)] $1"
  if [ -e "$2" ]; then echo "done already ($2 exists): skipped"; return; fi
  local start=$SECONDS
  "$3"
  printf '%s\t%d\n' "$1" $((SECONDS - start)) >> "$OUT/stage_times.tsv"
}
latest() { ls "$@" 2>/dev/null | sort -V | tail -n 1 || true; }

make_data() {
  "$PY" -m src.data.synthetic --output_path "$OUT/cityscapes" --num_train "$NUM_TRAIN" \
        --num_val "$NUM_VAL" --height "$HEIGHT" --width "$WIDTH" --seed 0 --overwrite
}
make_mindrecord() {
  for split in train val; do
    "$PY" build_mindrecord.py --data_path "$OUT/cityscapes" --output_path "$OUT/mindrecord" \
          --split "$split" --overwrite
  done
}
search() {
  local resume=() checkpoint
  checkpoint=$(latest "$OUT"/search/search_epoch*.ckpt)
  [ -n "$checkpoint" ] && resume=(--resume "$checkpoint")
  "$PY" search.py --config_path "$SEARCH_CONFIG" --data_path "$OUT/mindrecord" \
        --output_path "$OUT/search" "${resume[@]}"
  touch "$OUT/search/done"
}
decode() {
  "$PY" decode.py --ckpt_path "$(latest "$OUT"/search/search_epoch*.ckpt)" --output_path "$OUT/arch"
}
train() {
  local resume=() checkpoint
  checkpoint=$(latest "$OUT"/train/checkpoints/*.ckpt)
  [ -n "$checkpoint" ] && resume=(--resume "$checkpoint")
  "$PY" train.py --config_path "$CONFIG" --arch_path "$ARCH" --data_path "$OUT/mindrecord" \
        --output_path "$OUT/train" "${resume[@]}"
  touch "$OUT/train/done"
}
checkpoint() { latest "$OUT"/train/checkpoints/*.ckpt; }
evaluate() {
  "$PY" eval.py --config_path "$CONFIG" --arch_path "$ARCH" --data_path "$OUT/mindrecord" \
        --ckpt_path "$(checkpoint)" --output_path "$OUT/eval"
}
export_models() {
  for format in MINDIR ONNX; do
    "$PY" export.py --config_path "$CONFIG" --arch_path "$ARCH" --ckpt_path "$(checkpoint)" \
          --file_format "$format" --height "$HEIGHT" --width "$WIDTH" --output_path "$OUT/export.tmp"
  done
  mv "$OUT/export.tmp" "$OUT/export"
}
predict() {
  "$PY" predict.py --config_path "$CONFIG" --model "$(latest "$OUT"/export/*.onnx)" --flip false --scales 1.0 \
        --input "$(ls -d "$OUT"/cityscapes/leftImg8bit/val/*/ | head -n 1)" --output_path "$OUT/predict.tmp"
  mv "$OUT/predict.tmp" "$OUT/predict"
}
report() { "$PY" -m src.tools.demo_report --demo_path "$OUT"; }

run_stage "1/9 demo data set"          "$OUT/cityscapes/gtFine/val"                make_data
run_stage "2/9 MindRecord"             "$OUT/mindrecord/cityscapes_val.mindrecord" make_mindrecord
run_stage "3/9 architecture search"    "$OUT/search/done"                          search
run_stage "4/9 decode"                 "$ARCH"                                     decode
run_stage "5/9 retrain"                "$OUT/train/done"                           train
run_stage "6/9 evaluate"               "$OUT/eval/eval_results.json"               evaluate
run_stage "7/9 export MINDIR and ONNX" "$OUT/export"                               export_models
run_stage "8/9 predict val images"     "$OUT/predict"                              predict
run_stage "9/9 report"                 "$OUT/report.md"                            report

echo; echo "demo finished: $OUT/report.md"
