r"""Segment images with a checkpoint, a MINDIR or an ONNX model; write labelId, colour and overlay PNGs.

    python predict.py --model MODEL.ckpt|.mindir|.onnx --input IMAGE_OR_DIR --output_path DIR \
        [--config_path config/autodeeplab_s.yaml] [--KEY VALUE ...]
    python predict.py --model MODEL --input CITYSCAPES/leftImg8bit/test --output_path DIR \
        --cityscapes_submission DIR/submission.zip

Writes DIR/labelIds/<name>.png (Cityscapes ids), DIR/color/<name>.png and DIR/overlay/<name>.png, where
<name> mirrors the input's subfolders (<city>/<image stem> for a Cityscapes split). With
--cityscapes_submission only the labelIds PNGs are written, and zipped for the benchmark server.
The config gives the network (checkpoint), channel_order, and for a checkpoint flip/scales.
ModelArts: --enable_modelarts true --data_url OBS_IMAGES --checkpoint_url OBS_MODEL --train_url OBS_OUTPUT.
"""
import argparse
import os

import src  # noqa: F401  (CPU set-up before mindspore)
from src.config import CONFIG_DIR, parse_config
from src.errors import UserError, run_main
from src.fileio import check_output_location
from src.modelarts import modelarts_job

EPILOG = """predict options:
  --model FILE          model: .ckpt checkpoint, .mindir or .onnx export (required)
  --input PATH          an image file or a folder of images, subfolders included (required)
  --cityscapes_submission ZIP
                        write only labelIds PNGs and zip them for the Cityscapes benchmark server"""


def main(argv=None):
    from src.deploy.outputs import check_submission_names, write_submission_zip
    from src.deploy.predictor import Predictor
    from src.device import init_device

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model")
    parser.add_argument("--input")
    parser.add_argument("--cityscapes_submission")
    args, rest = parser.parse_known_args(argv)
    cfg = parse_config(rest, os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"), description=__doc__, epilog=EPILOG)
    with modelarts_job(cfg.enable_modelarts, cfg.data_url, cfg.checkpoint_url, cfg.train_url) as local:
        model = local.checkpoint if local and local.checkpoint else args.model
        inputs = local.data if local and local.data else args.input
        output_path = local.output if local else cfg.output_path
        if not model or not inputs:
            raise UserError("pass --model (a .ckpt, .mindir or .onnx file) and --input (an image or a folder)")
        zip_path = args.cityscapes_submission
        if zip_path is not None:
            zip_path = os.path.join(output_path, os.path.basename(zip_path)) if local else zip_path
            check_output_location(zip_path, kind="file", what="--cityscapes_submission")
        init_device(cfg)
        predictor = Predictor(model, cfg)
        if args.cityscapes_submission is None:
            written = predictor.predict_paths(inputs, output_path)
        else:
            written = predictor.predict_paths(inputs, output_path, kinds=("labelIds",),
                                              check_names=check_submission_names)
            print("submission: %s" % write_submission_zip(zip_path, [files["labelIds"] for files in written]))
        print("wrote predictions of %d image(s) to %s" % (len(written), output_path))


if __name__ == "__main__":
    run_main(main)
