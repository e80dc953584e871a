#!/usr/bin/env bash
# Data-parallel training on Ascend with a rank table (HCCL), one process per device, as in the
# MindSpore ModelZoo scripts.
#   bash scripts/run_distribute_train.sh RANK_SIZE RANK_TABLE_FILE DATA_PATH [CONFIG] [OUTPUT_PATH] [--key value ...]
#   bash scripts/run_distribute_train.sh RANK_SIZE RANK_TABLE_FILE DATA_PATH EPOCHS [--key value ...]  (ModelZoo port)
# Device i runs in ./train_parallel<i>/ with its log in train_parallel<i>/train.log; rank 0 writes
# checkpoints to OUTPUT_PATH (default ./output_distribute). batch_size is per device.
set -euo pipefail
usage() {
  echo "usage: bash $0 RANK_SIZE RANK_TABLE_FILE DATA_PATH [CONFIG.yaml] [OUTPUT_PATH] [--key value ...]" >&2
  echo "  e.g. bash $0 8 /path/hccl_8p.json /data/mindrecord config/autodeeplab_s.yaml" >&2
  exit 2
}
[ $# -ge 3 ] || usage
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RANK_SIZE="$1"; RANK_TABLE_FILE="$2"; DATA_PATH="$3"; shift 3
[[ "$RANK_SIZE" =~ ^[1-9][0-9]*$ ]] || { echo "error: RANK_SIZE must be a positive integer, got '$RANK_SIZE'" >&2; usage; }
[ -f "$RANK_TABLE_FILE" ] || { echo "error: RANK_TABLE_FILE $RANK_TABLE_FILE does not exist" >&2; exit 2; }
[ -d "$DATA_PATH" ] || { echo "error: DATA_PATH $DATA_PATH is not a directory" >&2; exit 2; }
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
LEAD_ARGS=()  # --config_path only when given (train.py's default file otherwise, so a --resume checkpoint names the network), or the port's --epochs
OUTPUT_PATH="./output_distribute"
if [ $# -ge 1 ] && [[ "$1" =~ ^[0-9]+$ ]]; then  # the ModelZoo port's [EPOCHS]
  echo "note: ModelZoo port order: EPOCHS $1" >&2
  LEAD_ARGS=(--epochs "$1"); shift
else
  if [ $# -ge 1 ] && [[ "$1" != --* ]]; then
    [ -f "$1" ] || { echo "error: config file $1 does not exist" >&2; exit 2; }
    LEAD_ARGS=(--config_path "$(abspath "$1")"); shift
  fi
  if [ $# -ge 1 ] && [[ "$1" != --* ]]; then OUTPUT_PATH="$1"; shift; fi
fi
export RANK_TABLE_FILE; RANK_TABLE_FILE="$(abspath "$RANK_TABLE_FILE")"
export RANK_SIZE
DATA_PATH="$(abspath "$DATA_PATH")"
mkdir -p "$OUTPUT_PATH"; OUTPUT_PATH="$(abspath "$OUTPUT_PATH")"
PYTHON="${PYTHON:-python}"
for ((i = 0; i < RANK_SIZE; i++)); do
  export DEVICE_ID=$i RANK_ID=$i
  WORK_DIR="./train_parallel$i"
  rm -rf "$WORK_DIR"; mkdir -p "$WORK_DIR"
  echo "start training for rank $RANK_ID, device $DEVICE_ID (log: $WORK_DIR/train.log)"
  (cd "$WORK_DIR" && \
    "$PYTHON" "$ROOT/train.py" ${LEAD_ARGS[@]+"${LEAD_ARGS[@]}"} --data_path "$DATA_PATH" --output_path "$OUTPUT_PATH" \
      --device_target Ascend --distribute true "$@" > train.log 2>&1 &)
done
