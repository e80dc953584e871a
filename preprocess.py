r"""Inputs of the C++ inference app: images -> normalised float32 tensors <stem>.bin (1, 3, H, W).

    python preprocess.py --data_path CITYSCAPES_ROOT_OR_IMAGE_DIR --output_path DIR \
        [--model EXPORT.mindir|.onnx | --height H --width W] [--config_path ...]

A Cityscapes root means its val split. The size is the export's (read from --model when given).
"""
import argparse
import os

import src  # noqa: F401  (CPU set-up before mindspore)
from src.config import CONFIG_DIR, parse_config
from src.errors import UserError, run_main
from src.fileio import check_output_location

EPILOG = """preprocess options:
  --model FILE          the .mindir/.onnx export: its input size overrides --height/--width"""


def main(argv=None):
    from src.deploy.offline import preprocess
    from src.deploy.predictor import export_input_size

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model")
    args, rest = parser.parse_known_args(argv)
    cfg = parse_config(rest, os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"), description=__doc__, epilog=EPILOG, stage="preprocess")
    if not cfg.data_path:
        raise UserError("pass --data_path: a Cityscapes root (its val split is used) or a folder of images")
    check_output_location(cfg.output_path, "folder", "--output_path")
    height, width = export_input_size(args.model) if args.model else (cfg.height, cfg.width)
    written = preprocess(cfg.data_path, cfg.output_path, height, width, cfg.channel_order)
    print("wrote %d input tensor(s) of 1x3x%dx%d to %s" % (len(written), height, width, cfg.output_path))


if __name__ == "__main__":
    run_main(main)
