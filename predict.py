r"""Segment images with a checkpoint, a MINDIR or an ONNX model; write labelId, colour and overlay PNGs.

    python predict.py --ckpt_path MODEL.ckpt|.mindir|.onnx --input IMAGE_OR_DIR --output_path DIR \
        [--config_path config/autodeeplab_s.yaml] [--KEY VALUE ...]
    python predict.py --ckpt_path MODEL --input CITYSCAPES/leftImg8bit/test --output_path DIR \
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
from src.errors import UserError, run_main
from src.fileio import check_output_location
from src.stage import run_stage

EPILOG = """predict options:
  --input PATH          an image file or a folder of images, subfolders included (required)
  --cityscapes_submission ZIP
                        write only labelIds PNGs and zip them for the Cityscapes benchmark server"""


def predict(cfg, args):
    """Predict ``args.input`` with ``cfg.ckpt_path``; in ModelArts mode both come from data_url and
    checkpoint_url (their local copies are cfg.data_path and cfg.ckpt_path)."""
    from src.data.datasets import with_dataset
    from src.deploy.outputs import check_submission_names, write_submission_zip
    from src.deploy.predictor import Predictor, backend_kind
    from src.device import init_device
    from src.model.loading import with_checkpoint_network

    cfg = with_dataset(cfg)
    model = cfg.ckpt_path
    inputs = cfg.data_path if cfg.enable_modelarts and cfg.data_url else args.input
    if not model or not inputs:
        raise UserError("pass --ckpt_path (a .ckpt, .mindir or .onnx file) and --input (an image or a folder)")
    zip_path = args.cityscapes_submission
    if zip_path is not None:
        if cfg.enable_modelarts:
            zip_path = os.path.join(cfg.output_path, os.path.basename(zip_path))
        check_output_location(zip_path, kind="file", what="--cityscapes_submission")
    init_device(cfg)
    if backend_kind(model) == "checkpoint":
        cfg = with_checkpoint_network(cfg, model, "--model")
    predictor = Predictor(model, cfg)
    if zip_path is None:
        written = predictor.predict_paths(inputs, cfg.output_path)
    else:
        written = predictor.predict_paths(inputs, cfg.output_path, kinds=("labelIds",),
                                          check_names=check_submission_names)
        print("submission: %s" % write_submission_zip(zip_path, [files["labelIds"] for files in written]))
    print("wrote predictions of %d image(s) to %s" % (len(written), cfg.output_path))


def main(argv=None):
    extra = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    extra.add_argument("--input")
    extra.add_argument("--cityscapes_submission")
    return run_stage("predict", predict, argv, description=__doc__, epilog=EPILOG, extra=extra)


if __name__ == "__main__":
    run_main(main)
