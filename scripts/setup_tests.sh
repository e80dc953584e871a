#!/usr/bin/env bash
# Everything the tests need, installed into the active Python environment (README, Quick start):
#  1. pip install -r requirements-test.txt (it includes requirements.txt: one resolution, pins kept);
#  2. the Debian packages of the C++ app tests (libopencv-dev cmake g++): installed when root,
#     otherwise named for you to install;
#  3. the C++ headers (include/) and library of PyPI's mindspore-lite 2.0.0 wheel (the app's MindSpore Lite
#     backend is compiled and linked against them) into $AUTODEEPLAB_CACHE/mindspore-lite-2.0.0
#     (default ~/.cache/autodeeplab), where the tests find them. Nothing is downloaded while tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"

"$PYTHON" -m pip install -r requirements-test.txt

APT_PACKAGES="libopencv-dev cmake g++"
# shellcheck disable=SC2086
if ! dpkg -s $APT_PACKAGES >/dev/null 2>&1 || ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing $APT_PACKAGES (apt-get)"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $APT_PACKAGES >/dev/null
  else
    echo "warning: the C++ app tests need $APT_PACKAGES; install them (sudo apt-get install $APT_PACKAGES)" >&2
  fi
fi

LITE_HOME="${AUTODEEPLAB_CACHE:-$HOME/.cache/autodeeplab}/mindspore-lite-2.0.0"
if [ ! -f "$LITE_HOME/lib/libmindspore-extendrt_python.so" ] || [ ! -f "$LITE_HOME/include/mindapi/base/format.h" ]; then
  echo "fetching the mindspore-lite 2.0.0 wheel's C++ headers and library -> $LITE_HOME"
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 37 --platform manylinux1_x86_64 \
    mindspore-lite==2.0.0 -d "$download"
  "$PYTHON" - "$download" "$LITE_HOME" <<'PY'
import glob, os, shutil, sys, zipfile
download, home = sys.argv[1:]
wheel = glob.glob(os.path.join(download, "mindspore_lite-2.0.0-*.whl"))[0]
partial = home + ".partial"
shutil.rmtree(partial, ignore_errors=True)
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        # include/api/*.h include include/mindapi/...: the whole include/ folder (236 KB) is needed.
        if (name.startswith("mindspore_lite/include/") and not name.endswith("/")) or \
                name == "mindspore_lite/lib/libmindspore-extendrt_python.so":
            target = os.path.join(partial, name[len("mindspore_lite/"):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
shutil.rmtree(home, ignore_errors=True)
os.replace(partial, home)
PY
fi
echo "test setup done (MindSpore Lite C++ API: $LITE_HOME)"
