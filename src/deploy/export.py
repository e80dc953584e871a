"""Export a trained network to MINDIR (any backend), ONNX (ONNX Runtime, OpenCV DNN) or AIR (Ascend).

The exported graph takes one normalised float32 image (1, 3, height, width) and returns the
label map (1, height, width) int32 ('argmax'), class probabilities (1, C, height, width)
('softmax') or raw logits ('logits', used by the parity tests). ONNX export traces the resizes as MatMuls
(``src.layers.resize.exportable_resize``) because MindSpore cannot export ResizeBilinearV2, then
turns them into ONNX Resize nodes (``src.deploy.onnx_resize``).
"""
import os
import re

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np

from src.errors import UserError
from src.fileio import atomic_path
from src.kernels import portable_ops
from src.layers.resize import exportable_resize

OUTPUTS = ("argmax", "softmax", "logits")
EXTENSIONS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


class InferenceHead(nn.Cell):
    """The network followed by the exported output: argmax label map, softmax or logits."""

    def __init__(self, net, output):
        super().__init__()
        if output not in OUTPUTS:
            raise UserError("output must be one of %s, got %r" % (", ".join(OUTPUTS), output))
        self.net = net
        self.output = output

    def construct(self, x):
        logits = self.net(x)
        if self.output == "argmax":
            return ops.argmax(logits, dim=1).astype(ms.int32)
        if self.output == "softmax":
            return ops.softmax(logits, axis=1)
        return logits


def export_file_name(output_path, height, width, output, file_format):
    """``<output_path>/autodeeplab_<H>x<W>_<output>.<ext>``."""
    return os.path.join(output_path, "autodeeplab_%dx%d_%s%s" % (height, width, output, EXTENSIONS[file_format]))


def check_format(file_format, device_target):
    """AIR is an Ascend format; MindSpore refuses it elsewhere with an obscure message."""
    if file_format not in EXTENSIONS:
        raise UserError("file_format must be one of %s, got %r" % (", ".join(EXTENSIONS), file_format))
    if file_format == "AIR" and device_target != "Ascend":
        raise UserError("AIR export needs an Ascend device (device_target is %s); export MINDIR or ONNX "
                        "here, or run export.py with --device_target Ascend on an Ascend machine" % device_target)


def _restore_resizes(path):
    """Replace the MatMul resizes of an ONNX file by Resize nodes (``src.deploy.onnx_resize``), in place."""
    import onnx
    from src.deploy.onnx_resize import replace_matmul_resizes

    model, _ = replace_matmul_resizes(onnx.load(path))
    os.chmod(path, 0o600)
    onnx.save(model, path)
    os.chmod(path, 0o400)


def _export_onnx(head, sample, file_base):
    """``ms.export`` to ONNX with MatMul resizes; an operator MindSpore cannot convert is a UserError."""
    try:
        with exportable_resize():
            ms.export(head, sample, file_name=file_base, file_format="ONNX")
    except RuntimeError as exc:
        unsupported = re.search(r"Exporting (\w+) operator is not yet supported", str(exc))
        if unsupported is None:
            raise
        raise UserError("MindSpore %s cannot export the operator %s to ONNX; export MINDIR instead"
                        % (ms.__version__, unsupported.group(1))) from None


def export_network(net, path, file_format, height, width, output="argmax"):
    """Write ``net`` (eval mode) with a fixed (1, 3, height, width) input to ``path``, atomically."""
    head = InferenceHead(net, output)
    head.set_train(False)
    sample = ms.Tensor(np.zeros((1, 3, height, width), np.float32))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path, keep_suffix=True) as temporary, portable_ops(head):
        temporary_base = temporary[:-len(EXTENSIONS[file_format])]  # ms.export appends the extension
        if file_format == "ONNX":
            _export_onnx(head, sample, temporary_base)
            _restore_resizes(temporary)
        else:
            ms.export(head, sample, file_name=temporary_base, file_format=file_format)
    return path


def run_export(cfg):
    """export.py: cfg.ckpt_path at cfg.height x cfg.width with cfg.output; returns the file written."""
    from src.device import device_of, init_device
    from src.model.loading import load_network, with_checkpoint_network

    check_format(cfg.file_format, device_of(cfg))
    init_device(cfg)
    cfg = with_checkpoint_network(cfg)
    net = load_network(cfg)
    path = export_network(net, export_file_name(cfg.output_path, cfg.height, cfg.width, cfg.output, cfg.file_format),
                          cfg.file_format, cfg.height, cfg.width, cfg.output)
    print("exported %s (input 1x3x%dx%d float32, output %s)" % (path, cfg.height, cfg.width, cfg.output))
    return path
