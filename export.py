r"""Export a checkpoint for deployment: MINDIR (any backend), ONNX (ONNX Runtime / OpenCV), AIR (Ascend).

    python export.py --config_path config/autodeeplab_s.yaml --ckpt_path CKPT --file_format MINDIR \
        [--height 1024 --width 2048] [--output argmax|softmax] [--output_path DIR]

Writes OUTPUT_PATH/autodeeplab_<H>x<W>_<output>.<mindir|onnx|air>; the input is one normalised
image (1, 3, H, W) float32.
"""
import src  # noqa: F401  (CPU set-up before mindspore)
from src.errors import run_main
from src.stage import run_stage


def main(argv=None):
    from src.deploy.export import run_export

    return run_stage("export", run_export, argv, description=__doc__)


if __name__ == "__main__":
    run_main(main)
