#!/usr/bin/env bash
# Data-parallel training with MindSpore's msrun launcher on one host (CPU, GPU or Ascend).
#   bash scripts/run_distribute_train_msrun.sh WORKER_NUM DATA_PATH [CONFIG] [OUTPUT_PATH] [--key value ...]
# batch_size in the config is per device (global batch = WORKER_NUM x batch_size). Rank 0 writes
# checkpoints and logs to OUTPUT_PATH (default ./output_distribute); each worker's log is in
# OUTPUT_PATH/msrun_log/worker_<rank>.log. MASTER_PORT (default 8118) can be set in the environment.
set -euo pipefail
usage() {
  echo "usage: bash $0 WORKER_NUM DATA_PATH [CONFIG.yaml] [OUTPUT_PATH] [--key value ...]" >&2
  echo "  e.g. bash $0 8 /data/mindrecord config/autodeeplab_s.yaml ./output --device_target Ascend" >&2
  exit 2
}
[ $# -ge 2 ] || usage
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORKER_NUM="$1"; DATA_PATH="$2"; shift 2
[[ "$WORKER_NUM" =~ ^[1-9][0-9]*$ ]] || { echo "error: WORKER_NUM must be a positive integer, got '$WORKER_NUM'" >&2; usage; }
CONFIG="$ROOT/config/autodeeplab_s.yaml"
if [ $# -ge 1 ] && [[ "$1" != --* ]]; then CONFIG="$1"; shift; fi
OUTPUT_PATH="./output_distribute"
if [ $# -ge 1 ] && [[ "$1" != --* ]]; then OUTPUT_PATH="$1"; shift; fi
[ -f "$CONFIG" ] || { echo "error: config file $CONFIG does not exist" >&2; exit 2; }
[ -d "$DATA_PATH" ] || { echo "error: DATA_PATH $DATA_PATH is not a directory" >&2; exit 2; }
mkdir -p "$OUTPUT_PATH"
OUTPUT_PATH="$(cd "$OUTPUT_PATH" && pwd)"
command -v msrun >/dev/null || { echo "error: msrun not found on PATH (it comes with mindspore)" >&2; exit 2; }
msrun --worker_num="$WORKER_NUM" --local_worker_num="$WORKER_NUM" --master_port="${MASTER_PORT:-8118}" \
  --log_dir="$OUTPUT_PATH/msrun_log" --join=True \
  python "$ROOT/train.py" --config_path "$CONFIG" --data_path "$DATA_PATH" --output_path "$OUTPUT_PATH" \
  --distribute true "$@"
