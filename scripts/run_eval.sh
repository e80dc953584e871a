#!/usr/bin/env bash
# Evaluate a checkpoint on the val MindRecord (mIoU, per-class IoU, pixel accuracy).
#   bash scripts/run_eval.sh DATA_PATH CKPT_PATH [CONFIG.yaml] [--key value ...]
#   e.g. bash scripts/run_eval.sh /data/mindrecord ckpt/autodeeplab-s.ckpt config/autodeeplab_s.yaml --flip true
# Log: ./eval/eval.log; scores: ./eval/eval_results.json (override with --output_path).
set -euo pipefail
usage() {
  echo "usage: bash $0 DATA_PATH CKPT_PATH [CONFIG.yaml] [--key value ...]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA_PATH="$1"; CKPT_PATH="$2"; shift 2
CONFIG="$ROOT/config/autodeeplab_s.yaml"
if [ $# -ge 1 ] && [[ "$1" != --* ]]; then CONFIG="$1"; shift; fi
[ -d "$DATA_PATH" ] || { echo "error: DATA_PATH $DATA_PATH is not a directory" >&2; exit 2; }
[ -f "$CKPT_PATH" ] || { echo "error: CKPT_PATH $CKPT_PATH does not exist" >&2; exit 2; }
[ -f "$CONFIG" ] || { echo "error: config file $CONFIG does not exist" >&2; exit 2; }
mkdir -p eval
"${PYTHON:-python}" "$ROOT/eval.py" --config_path "$CONFIG" --data_path "$DATA_PATH" --ckpt_path "$CKPT_PATH" \
  --output_path ./eval "$@" 2>&1 | tee eval/eval.log
