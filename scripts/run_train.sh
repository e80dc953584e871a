#!/usr/bin/env bash
# Single-device training.
#   bash scripts/run_train.sh [CONFIG] DATA_PATH [OUTPUT_PATH] [--key value ...]
#   bash scripts/run_train.sh DEVICE_ID DATA_PATH [EPOCHS] [--key value ...]   (the ModelZoo port's order)
# CONFIG defaults to train.py's (config/autodeeplab_s.yaml; recognised by its .yaml/.yml suffix);
# OUTPUT_PATH defaults to ./output_train; the log goes to OUTPUT_PATH/train.log.
set -euo pipefail
usage() {
  echo "usage: bash $0 [CONFIG.yaml] DATA_PATH [OUTPUT_PATH] [--key value ...]" >&2
  echo "   or: bash $0 DEVICE_ID DATA_PATH [EPOCHS] [--key value ...]  (ModelZoo port order)" >&2
  echo "  e.g. bash $0 config/autodeeplab_s.yaml /data/mindrecord ./output --device_target GPU" >&2
  exit 2
}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONFIG_ARGS=()  # no --config_path: train.py's default file, whose keys a --resume checkpoint may override
PORT_ARGS=()
OUTPUT_PATH="./output_train"
case "${1:-}" in -h|--help|"") usage ;; esac
if [[ "$1" =~ ^[0-9]+$ && $# -ge 2 && ! -e "$1" ]]; then  # DEVICE_ID DATA_PATH [EPOCHS]
  PORT_ARGS=(--device_id "$1"); DATA_PATH="$2"; shift 2
  if [ $# -ge 1 ] && [[ "$1" =~ ^[0-9]+$ ]]; then PORT_ARGS+=(--epochs "$1"); shift; fi
  echo "note: ModelZoo port order: DEVICE_ID ${PORT_ARGS[1]}, DATA_PATH $DATA_PATH${PORT_ARGS[3]:+, EPOCHS ${PORT_ARGS[3]}}" >&2
else
  if [[ "$1" == *.yaml || "$1" == *.yml ]]; then
    [ -f "$1" ] || { echo "error: config file $1 does not exist" >&2; exit 2; }
    CONFIG_ARGS=(--config_path "$1"); shift
  fi
  [ $# -ge 1 ] && [[ "$1" != --* ]] || usage
  DATA_PATH="$1"; shift
  if [ $# -ge 1 ] && [[ "$1" != --* ]]; then OUTPUT_PATH="$1"; shift; fi
fi
[ -d "$DATA_PATH" ] || { echo "error: DATA_PATH $DATA_PATH is not a directory" >&2; exit 2; }
mkdir -p "$OUTPUT_PATH"
PYTHON="${PYTHON:-python}"
"$PYTHON" "$ROOT/train.py" ${CONFIG_ARGS[@]+"${CONFIG_ARGS[@]}"} ${PORT_ARGS[@]+"${PORT_ARGS[@]}"} --data_path "$DATA_PATH" --output_path "$OUTPUT_PATH" "$@" \
  2>&1 | tee "$OUTPUT_PATH/train.log"
exit "${PIPESTATUS[0]}"
