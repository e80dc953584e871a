#!/usr/bin/env bash
# Evaluate a checkpoint on the val MindRecord (mIoU, per-class IoU, pixel accuracy).
#   bash scripts/run_eval.sh DATA_PATH CKPT_PATH [CONFIG.yaml | OUTPUT_PATH] [--key value ...]
#   e.g. bash scripts/run_eval.sh /data/mindrecord ckpt/autodeeplab-s.ckpt --flip true
# The network comes from the checkpoint unless CONFIG or --key options give it. The third argument
# is a config file (.yaml/.yml) or, as in the ModelZoo port, the OUTPUT_PATH.
# Log: OUTPUT_PATH/eval.log; scores: OUTPUT_PATH/eval_results.json (OUTPUT_PATH default ./eval).
set -euo pipefail
usage() {
  echo "usage: bash $0 DATA_PATH CKPT_PATH [CONFIG.yaml | OUTPUT_PATH] [--key value ...]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA_PATH="$1"; CKPT_PATH="$2"; shift 2
CONFIG_ARGS=()
OUTPUT_PATH=./eval
if [ $# -ge 1 ] && [[ "$1" != --* ]]; then
  if [[ "$1" == *.yaml || "$1" == *.yml ]]; then
    [ -f "$1" ] || { echo "error: config file $1 does not exist" >&2; exit 2; }
    CONFIG_ARGS=(--config_path "$1")
  else
    OUTPUT_PATH="$1"
  fi
  shift
fi
[ -d "$DATA_PATH" ] || { echo "error: DATA_PATH $DATA_PATH is not a directory" >&2; exit 2; }
[ -f "$CKPT_PATH" ] || { echo "error: CKPT_PATH $CKPT_PATH does not exist" >&2; exit 2; }
mkdir -p "$OUTPUT_PATH"
"${PYTHON:-python}" "$ROOT/eval.py" ${CONFIG_ARGS[@]+"${CONFIG_ARGS[@]}"} --data_path "$DATA_PATH" --ckpt_path "$CKPT_PATH" \
  --output_path "$OUTPUT_PATH" "$@" 2>&1 | tee "$OUTPUT_PATH/eval.log"
exit "${PIPESTATUS[0]}"
