"""One predictor over three model files: a training checkpoint, a MINDIR export, an ONNX export.

Backends share one interface: ``input_size`` ((H, W) of a fixed-shape export, None for a
checkpoint) and ``run(batch) -> output`` on a normalised (1, 3, H, W) float32 batch, where the
output is a label map (1, H, W) (export with output 'argmax') or class scores (1, C, H, W)
(logits or softmax). A checkpoint also supports the config's flip / multi-scale / sliding-window
options; an export is a fixed graph and predicts its single view.
"""
import os

import numpy as np

from src.data.datasets import output_table
from src.data.normalisation import normalise
from src.deploy.images import check_apart, list_images, read_image
from src.deploy.outputs import KINDS, write_prediction
from src.errors import UserError
from src.fileio import check_output_location

BACKEND_EXTENSIONS = {".ckpt": "checkpoint", ".mindir": "MINDIR", ".onnx": "ONNX"}


class CheckpointBackend:
    """A training checkpoint run through the network built from the config (any input size)."""

    input_size = None

    def __init__(self, path, cfg):
        from src.model.loading import load_network, numpy_forward

        self.run = numpy_forward(load_network(cfg, path, what="--model"))


def mindir_input_shape(path):
    """Input shape stored in a MINDIR file (its first graph input)."""
    from mindspore.train.mind_ir_pb2 import ModelProto

    model = ModelProto()
    with open(path, "rb") as f:
        model.ParseFromString(f.read())
    return tuple(int(d) for d in model.graph.input[0].tensor[0].dims)


def export_input_size(path):
    """(H, W) input size of a MINDIR or ONNX export; one UserError line for a checkpoint or an unreadable file."""
    kind = backend_kind(path)
    if kind == "checkpoint":
        raise UserError("'%s' is a checkpoint; pass a .mindir or .onnx export" % path)
    try:
        if kind == "MINDIR":
            shape = mindir_input_shape(path)
        else:
            import onnx

            dims = onnx.load(path, load_external_data=False).graph.input[0].type.tensor_type.shape.dim
            shape = tuple(int(d.dim_value) for d in dims)
    except Exception as exc:  # protobuf and onnx raise their own types for a corrupt file
        raise UserError("'%s' is not a %s export that can be read (%s); pass a file written by export.py "
                        "--file_format %s" % (path, kind, (str(exc).splitlines() or [type(exc).__name__])[0],
                                              kind)) from None
    if len(shape) != 4 or shape[:2] != (1, 3) or min(shape[2:]) <= 0:
        raise UserError("'%s' has input shape %s, not (1, 3, H, W); export it with export.py" % (path, shape))
    return shape[2:4]


class MindIRBackend:
    """A MINDIR export loaded with ``mindspore.load`` and run as ``nn.GraphCell``."""

    def __init__(self, path, cfg):
        import mindspore as ms

        try:
            self.graph = ms.nn.GraphCell(ms.load(path))
            shape = mindir_input_shape(path)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise UserError("'%s' is not a MINDIR file MindSpore can load (%s); pass a file written by "
                            "export.py --file_format MINDIR" % (path, str(exc).splitlines()[0])) from None
        self.input_size = shape[2:4]

    def run(self, batch):
        import mindspore as ms

        return self.graph(ms.Tensor(batch)).asnumpy()


class OnnxBackend:
    """An ONNX export run with ONNX Runtime on the CPU."""

    def __init__(self, path, cfg):
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise UserError("'%s' is not an ONNX model ONNX Runtime can load (%s); pass a file written by "
                            "export.py --file_format ONNX" % (path, str(exc).splitlines()[0])) from None
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        self.input_size = tuple(model_input.shape[2:4]) if all(isinstance(d, int) for d in model_input.shape) \
            else None

    def run(self, batch):
        return self.session.run(None, {self.input_name: batch})[0]


BACKENDS = {"checkpoint": CheckpointBackend, "MINDIR": MindIRBackend, "ONNX": OnnxBackend}


def backend_kind(model_path):
    """'checkpoint', 'MINDIR' or 'ONNX' from the file extension."""
    extension = os.path.splitext(model_path)[1].lower()
    if extension not in BACKEND_EXTENSIONS:
        raise UserError("cannot tell the kind of model '%s' from its extension; pass a .ckpt checkpoint, a "
                        ".mindir or an .onnx export" % model_path)
    if not os.path.isfile(model_path):
        raise UserError("model file '%s' does not exist" % model_path)
    return BACKEND_EXTENSIONS[extension]


def labels_of(output):
    """(H, W) uint8 trainIds of a backend output: a label map, or the argmax of class scores."""
    output = np.asarray(output)[0]
    if output.ndim == 2:
        return output.astype(np.uint8)
    return np.argmax(output, axis=0).astype(np.uint8)


class Predictor:
    """Semantic segmentation of RGB images with a checkpoint, a MINDIR or an ONNX model.

    MindSpore's device must be set up first (``src.device.init_device``) for checkpoints and MINDIR.
    """

    def __init__(self, model_path, cfg):
        self.kind = backend_kind(model_path)
        self.model_path = model_path
        self.cfg = cfg
        uses_options = cfg.flip or list(cfg.scales) != [1.0] or cfg.sliding_window
        if uses_options and self.kind != "checkpoint":
            raise UserError("flip, scales and sliding_window need a checkpoint (--model X.ckpt); a %s export is "
                            "a fixed single-view graph" % self.kind)
        self.backend = BACKENDS[self.kind](model_path, cfg)
        # Cityscapes keeps its labelIds and colours (outputs.py); other data sets paint with their palette
        self.palette = None if cfg.dataset == "cityscapes" else output_table(cfg).palette()
        self.inference = None
        if uses_options:
            from src.eval.evaluate import inference_from_config

            self.inference = inference_from_config(self.backend.run, cfg)

    def check_size(self, image_rgb, name):
        size = self.backend.input_size
        if size is not None and tuple(image_rgb.shape[:2]) != tuple(size):
            raise UserError("'%s' is %dx%d (HxW) but the %s model '%s' was exported for %dx%d; resize the image or "
                            "re-export: python export.py --ckpt_path CKPT --file_format %s --height %d --width %d"
                            % (name, image_rgb.shape[0], image_rgb.shape[1], self.kind, self.model_path,
                               size[0], size[1], self.kind, image_rgb.shape[0], image_rgb.shape[1]))

    def predict(self, image_rgb, name="image"):
        """(H, W) uint8 trainId map of an RGB uint8 (H, W, 3) image."""
        self.check_size(image_rgb, name)
        image = normalise(image_rgb, self.cfg.channel_order)
        if self.inference is not None:
            return self.inference.predict(image)
        return labels_of(self.backend.run(image[None]))

    def predict_paths(self, input_path, output_dir, progress=True, kinds=KINDS, check_names=None):
        """Predict an image file or every image under a folder; write ``kinds`` PNGs (labelIds, color,
        overlay), mirroring the input's subfolders.

        Every input is read and its size checked (and ``check_names`` run on the output names) before
        any prediction, so a bad file fails before anything is written. Returns a list of {kind: path}.
        """
        from tqdm import tqdm

        images = list_images(input_path)
        check_apart(input_path, output_dir)
        if check_names is not None:
            check_names([name for _, name in images])
        for path, _ in images:
            self.check_size(read_image(path), path)
        os.makedirs(check_output_location(output_dir), exist_ok=True)
        written = []
        for path, name in tqdm(images, desc="predict", unit="image", disable=not progress):
            image = read_image(path)
            written.append(write_prediction(output_dir, name, self.predict(image, path), image, kinds, self.palette))
        return written
