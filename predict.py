r"""Segment images with a checkpoint, a MINDIR or an ONNX model; write labelId, colour and overlay PNGs.

    python predict.py --model MODEL.ckpt|.mindir|.onnx --input IMAGE_OR_DIR --output_path DIR \
        [--config_path config/autodeeplab_s.yaml] [--KEY VALUE ...]

Writes DIR/labelIds/<name>.png (Cityscapes ids), DIR/color/<name>.png and DIR/overlay/<name>.png.
The config gives the network (checkpoint), channel_order, and for a checkpoint flip/scales.
"""
import argparse
import os

import src  # noqa: F401  (CPU set-up before mindspore)
from src.config import CONFIG_DIR, parse_config
from src.errors import UserError, run_main
from src.fileio import check_output_location

EPILOG = """predict options:
  --model FILE          model: .ckpt checkpoint, .mindir or .onnx export (required)
  --input PATH          an image file or a folder of images (required)"""


def main(argv=None):
    from src.deploy.predictor import Predictor
    from src.device import init_device

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model")
    parser.add_argument("--input")
    args, rest = parser.parse_known_args(argv)
    cfg = parse_config(rest, os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"), description=__doc__, epilog=EPILOG, stage="predict")
    if not args.model or not args.input:
        raise UserError("pass --model (a .ckpt, .mindir or .onnx file) and --input (an image or a folder)")
    check_output_location(cfg.output_path, "folder", "--output_path")
    init_device(cfg)
    written = Predictor(args.model, cfg).predict_paths(args.input, cfg.output_path)
    print("wrote predictions of %d image(s) to %s" % (len(written), cfg.output_path))


if __name__ == "__main__":
    run_main(main)
