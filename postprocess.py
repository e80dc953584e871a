r"""Results of the C++ inference app: label maps <stem>.bin -> mIoU (with ground truth) and PNGs.

    python postprocess.py --data_path CITYSCAPES_ROOT_OR_IMAGE_DIR --result_path APP_OUTPUT_DIR \
        --output_path DIR [--config_path ...]

Writes DIR/labelIds, DIR/color, DIR/overlay PNGs and, for a Cityscapes root, prints the scores of
the val split and saves DIR/postprocess_results.json.
"""
import argparse
import os

import src  # noqa: F401  (CPU set-up before mindspore)
from src.config import CONFIG_DIR, parse_config
from src.errors import UserError, run_main
from src.fileio import check_output_location

EPILOG = """postprocess options:
  --result_path DIR     the inference app's output folder (<stem>.bin label maps) (required)"""
RESULTS_FILE = "postprocess_results.json"


def main(argv=None):
    from src.deploy.offline import postprocess
    from src.eval.metrics import format_scores
    from src.eval.results import save_json

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--result_path")
    args, rest = parser.parse_known_args(argv)
    cfg = parse_config(rest, os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"), description=__doc__, epilog=EPILOG, stage="postprocess")
    if not cfg.data_path or not args.result_path:
        raise UserError("pass --data_path (the images the app ran on) and --result_path (the app's output folder)")
    check_output_location(cfg.output_path, "folder", "--output_path")
    scores = postprocess(cfg.data_path, args.result_path, cfg.output_path, cfg.num_classes, cfg.ignore_label)
    print("wrote labelIds/color/overlay PNGs to %s" % cfg.output_path)
    if scores is not None:
        print(format_scores(scores))
        print("scores saved to %s" % save_json(os.path.join(cfg.output_path, RESULTS_FILE), scores))


if __name__ == "__main__":
    run_main(main)
