#!/usr/bin/env bash
# Offline inference with the C++ app: preprocess -> app -> postprocess (mIoU + colour PNGs).
#   bash scripts/run_infer_310.sh MODEL DATA_PATH [DEVICE_ID] [CONFIG.yaml]
# MODEL: a .mindir export (MindSpore Lite backend on Ascend 310: set MS_LITE_HOME to the MindSpore
# Lite package, the folder holding runtime/include and runtime/lib, as for ModelZoo's cpp_infer; or
# MINDSPORE_PATH to a dir with include/api and lib/; APP_DEVICE=cpu runs Lite on the CPU) or an .onnx
# export (OpenCV DNN backend, CPU). DATA_PATH: a Cityscapes root (val split, scored) or a folder of
# images. Work folders in the current directory, emptied at the start of each run: preprocess_Result/,
# result_Files/ (label maps, inference_time.txt), postprocess_Result/; logs *.log.
set -euo pipefail
usage() {
  echo "usage: bash $0 MODEL DATA_PATH [DEVICE_ID] [CONFIG.yaml]" >&2
  exit 2
}
[ $# -ge 2 ] && [ $# -le 4 ] || usage
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODEL="$1"; DATA_PATH="$2"; DEVICE_ID="${3:-0}"; CONFIG="${4:-$ROOT/config/autodeeplab_s.yaml}"
[ -f "$MODEL" ] || { echo "error: MODEL $MODEL does not exist" >&2; exit 2; }
[ -e "$DATA_PATH" ] || { echo "error: DATA_PATH $DATA_PATH does not exist" >&2; exit 2; }
[[ "$DEVICE_ID" =~ ^[0-9]+$ ]] || { echo "error: DEVICE_ID must be a number, got '$DEVICE_ID'" >&2; exit 2; }
[ -f "$CONFIG" ] || { echo "error: config file $CONFIG does not exist" >&2; exit 2; }
PYTHON="${PYTHON:-python}"
case "${MODEL,,}" in
  *.mindir) BACKEND=mindspore ;;
  *.onnx) BACKEND=opencv ;;
  *) echo "error: MODEL must be a .mindir (Ascend 310) or .onnx (CPU) export, got $MODEL" >&2; exit 2 ;;
esac

[ -z "${MS_LITE_HOME:-}" ] || export LD_LIBRARY_PATH="$MS_LITE_HOME/runtime/lib:$MS_LITE_HOME/tools/converter/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
rm -rf preprocess_Result result_Files postprocess_Result  # no stale files of an earlier run

APP="$ROOT/ascend310_infer/out/main"
echo "build -> $APP"
bash "$ROOT/ascend310_infer/build.sh" > build.log 2>&1 || { cat build.log; echo "error: building the app failed" >&2; exit 1; }

echo "preprocess -> preprocess_Result/"
"$PYTHON" "$ROOT/preprocess.py" --config_path "$CONFIG" --data_path "$DATA_PATH" --model "$MODEL" \
  --output_path preprocess_Result > preprocess.log 2>&1 || { cat preprocess.log; exit 1; }
read -r HEIGHT WIDTH < <(PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c "import sys, src; \
from src.deploy.predictor import export_input_size; print(*export_input_size(sys.argv[1]))" "$MODEL" 2>/dev/null | tail -1)
[ -n "${WIDTH:-}" ] || { echo "error: cannot read the input size of $MODEL" >&2; exit 1; }

echo "inference ($BACKEND) -> result_Files/"
"$APP" --model_path "$MODEL" --input_path preprocess_Result --output_path result_Files --backend "$BACKEND" \
  --device "${APP_DEVICE:-ascend}" --device_id "$DEVICE_ID" --height "$HEIGHT" --width "$WIDTH" > infer.log 2>&1 || { cat infer.log; exit 1; }
tail -1 infer.log

echo "postprocess -> postprocess_Result/"
"$PYTHON" "$ROOT/postprocess.py" --config_path "$CONFIG" --data_path "$DATA_PATH" --result_path result_Files \
  --output_path postprocess_Result > acc.log 2>&1 || { cat acc.log; exit 1; }
grep -E "^(mIoU|pixel acc)" acc.log || tail -1 acc.log
