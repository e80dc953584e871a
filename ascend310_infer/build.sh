#!/usr/bin/env bash
# Build the inference app into ascend310_infer/out/main.
#   MS_LITE_HOME=<MindSpore Lite package> bash build.sh   # MindSpore Lite backend (Ascend 310 / CPU, MINDIR);
#                                                        # the package holds runtime/include and runtime/lib
#   MINDSPORE_PATH=<dir> bash build.sh                   # the same from any dir with include/api and lib/
#   MINDSPORE_PATH=<dir> CMAKE_ARGS=-DMINDSPORE_LEGACY_API=ON bash build.sh  # MindSpore 1.x C++ package
#   bash build.sh                                        # neither set: OpenCV DNN (ONNX on the CPU) only
set -euo pipefail
cd "$(dirname "$0")"
MINDSPORE_PATH="${MINDSPORE_PATH:-${MS_LITE_HOME:-}}"
mkdir -p out
cd out
# shellcheck disable=SC2086
cmake .. -DMINDSPORE_PATH="$MINDSPORE_PATH" ${CMAKE_ARGS:-} > cmake.log || { cat cmake.log; exit 1; }
make -j"$(nproc)" 2>&1
echo "built $(pwd)/main"
