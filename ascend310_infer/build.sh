#!/usr/bin/env bash
# Build the inference app into ascend310_infer/out/main.
#   MINDSPORE_PATH=<dir> bash build.sh   # with the MindSpore (Ascend 310) backend
#   bash build.sh                        # MINDSPORE_PATH unset: found from an installed mindspore wheel
#                                        # if it ships the C++ API, else OpenCV DNN only
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${MINDSPORE_PATH:-}" ]; then
  location=$(python3 -m pip show mindspore 2>/dev/null | awk '/^Location:/{print $2}' || true)
  if [ -n "$location" ] && [ -f "$location/mindspore/include/api/model.h" ] && [ -d "$location/mindspore/lib" ]; then
    MINDSPORE_PATH="$location/mindspore"
  fi
fi
mkdir -p out
cd out
cmake .. -DMINDSPORE_PATH="${MINDSPORE_PATH:-}" > cmake.log || { cat cmake.log; exit 1; }
make -j"$(nproc)" 2>&1
echo "built $(pwd)/main"
