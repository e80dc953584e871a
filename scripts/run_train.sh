#!/usr/bin/env bash
# Single-device training.
#   bash scripts/run_train.sh [CONFIG] DATA_PATH [OUTPUT_PATH] [--key value ...]
# CONFIG defaults to config/autodeeplab_s.yaml (recognised by its .yaml/.yml suffix);
# OUTPUT_PATH defaults to ./output_train; the log goes to OUTPUT_PATH/train.log.
set -euo pipefail
usage() {
  echo "usage: bash $0 [CONFIG.yaml] DATA_PATH [OUTPUT_PATH] [--key value ...]" >&2
  echo "  e.g. bash $0 config/autodeeplab_s.yaml /data/mindrecord ./output --device_target GPU" >&2
  exit 2
}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONFIG="$ROOT/config/autodeeplab_s.yaml"
case "${1:-}" in -h|--help|"") usage ;; esac
if [[ "$1" == *.yaml || "$1" == *.yml ]]; then CONFIG="$1"; shift; fi
[ $# -ge 1 ] && [[ "$1" != --* ]] || usage
DATA_PATH="$1"; shift
OUTPUT_PATH="./output_train"
if [ $# -ge 1 ] && [[ "$1" != --* ]]; then OUTPUT_PATH="$1"; shift; fi
[ -f "$CONFIG" ] || { echo "error: config file $CONFIG does not exist" >&2; exit 2; }
[ -d "$DATA_PATH" ] || { echo "error: DATA_PATH $DATA_PATH is not a directory" >&2; exit 2; }
mkdir -p "$OUTPUT_PATH"
PYTHON="${PYTHON:-python}"
"$PYTHON" "$ROOT/train.py" --config_path "$CONFIG" --data_path "$DATA_PATH" --output_path "$OUTPUT_PATH" "$@" \
  2>&1 | tee "$OUTPUT_PATH/train.log"
exit "${PIPESTATUS[0]}"
