"""Image/mask checks and the encoding of one sample into a MindRecord row (no mindspore import).

Kept free of mindspore so conversion worker processes start fast. The row keeps the image file's
bytes (PNG or JPEG, decoded by the pipelines exactly as from the file) and the mask mapped to
train ids as a lossless PNG.
"""
import struct
import zlib

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from src.data.labels import ID_TO_TRAIN_ID
from src.errors import UserError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
# Labels compress ~10x at level 1 already; higher levels cost encode time for little gain.
LABEL_PNG_COMPRESSION = 1


def check_png_structure(data, path):
    """Walk the PNG chunks: signature, lengths, CRCs, and a final IEND.

    cv2.imdecode may return partial pixels for a truncated file, so completeness is checked here.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise UserError(f"'{path}' is not a PNG file (bad signature): replace it with the original file")
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise UserError(f"'{path}' is a truncated PNG (ends before its IEND chunk): re-download or "
                            "re-extract it")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 8 + length + 4
        if end > len(data):
            raise UserError(f"'{path}' is a truncated PNG (chunk {kind!r} cut off): re-download or re-extract it")
        if zlib.crc32(data[pos + 4:end - 4]) != struct.unpack(">I", data[end - 4:end])[0]:
            raise UserError(f"'{path}' is a corrupt PNG (CRC error in chunk {kind!r}): re-download or "
                            "re-extract it")
        if kind == b"IEND":
            return
        pos = end


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise UserError(f"cannot read '{path}': {err.strerror}") from err


def _decode(data, path, kind):
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise UserError(f"'{path}' is an unreadable {kind} (decoding failed): re-download or re-extract it")
    return array


def read_png(path):
    """(file bytes, decoded array as stored: BGR or single channel) with clear errors."""
    data = _read_bytes(path)
    check_png_structure(data, path)
    return data, _decode(data, path, "PNG")


def read_image(path):
    """(file bytes, decoded array) of a PNG or JPEG image; a JPEG must end with its EOI marker
    (cv2 decodes a truncated JPEG into grey rows without an error)."""
    if not path.lower().endswith((".jpg", ".jpeg")):
        return read_png(path)
    data = _read_bytes(path)
    if not data.startswith(JPEG_START):
        raise UserError(f"'{path}' is not a JPEG file (bad signature): replace it with the original file")
    if not data.rstrip(b"\0").endswith(JPEG_END):
        raise UserError(f"'{path}' is a truncated JPEG (no end marker): re-download or re-extract it")
    return data, _decode(data, path, "JPEG")


def read_index_mask(path):
    """Class-index map (H, W) uint8 of a palette (P) or greyscale (L) PNG: the stored indices, never
    the palette colours."""
    data = _read_bytes(path)
    check_png_structure(data, path)
    try:
        with Image.open(path) as mask:
            mode = mask.mode
            indices = np.array(mask) if mode in ("P", "L") else None
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise UserError(f"'{path}' has an unreadable palette or pixels ({err}): re-download or re-extract it") \
            from None
    if indices is None:
        raise UserError(f"'{path}' is a {mode} PNG: a mask must hold one class index per pixel (a palette 'P' or "
                        "greyscale 'L' PNG, 255 = ignored), not colours; save the index map, e.g. "
                        "PIL Image.fromarray(indices.astype('uint8')).save(path)")
    return indices


def _as_rgb(data, image):
    """A grey, 16-bit or 4-channel image (ADE20K and VOC hold a few grey JPEGs) as an 8-bit colour
    PNG of its pixels, so every record decodes to 3 channels; 8-bit colour files stay as they are."""
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return data, image
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    ok, png = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, LABEL_PNG_COMPRESSION])
    if not ok:
        raise UserError("could not encode an image as PNG")
    return png.tobytes(), image


def _check_image(image, path):
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"'{path}' must be an 8-bit RGB image, got shape {image.shape} dtype {image.dtype}")


def _train_ids(sample):
    """The mask of `sample` mapped to train ids (uint8, 255 = ignore); Cityscapes' unknown ids are
    ignored as cityscapesscripts does, any other data set's values outside its class table are an error."""
    label_map = getattr(sample, "label_map", None)
    if label_map is None or label_map.kind == "labelids":
        _, raw = read_png(sample.label_path)
        if raw.dtype != np.uint8 or raw.ndim != 2:
            raise UserError(f"'{sample.label_path}' must be a single-channel 8-bit labelIds PNG "
                            f"(*_gtFine_labelIds.png), got shape {raw.shape} dtype {raw.dtype}")
        lut = ID_TO_TRAIN_ID if label_map is None else label_map.lut
    else:
        raw, lut = read_index_mask(sample.label_path), label_map.lut
    mapped = np.asarray(lut)[raw]
    if mapped.min() < 0:
        bad = np.unique(raw[mapped < 0])
        valid = np.flatnonzero(np.asarray(lut) >= 0)
        raise UserError(f"'{sample.label_path}' holds values {', '.join(map(str, bad[:8]))} outside the "
                        f"{label_map.dataset} class table (valid: {_ranges(valid)}): fix the mask, or the class "
                        "table (classes.txt) of a custom data set")
    return raw.shape, mapped.astype(np.uint8)


def _ranges(values):
    """'0-20, 255' for sorted ints."""
    spans = []
    for value in values:
        if spans and spans[-1][1] == value - 1:
            spans[-1][1] = value
        else:
            spans.append([value, value])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def encode_sample(sample):
    """MindRecord row of one sample: source image file bytes, train-id label PNG, name, size."""
    image_bytes, image = read_image(sample.image_path)
    if getattr(sample, "label_map", None) is not None and sample.label_map.dataset != "cityscapes":
        image_bytes, image = _as_rgb(image_bytes, image)
    _check_image(image, sample.image_path)
    label_shape, train_ids = _train_ids(sample)
    if label_shape != image.shape[:2]:
        raise UserError(f"size mismatch: image '{sample.image_path}' is {image.shape[1]}x{image.shape[0]} but "
                        f"label '{sample.label_path}' is {label_shape[1]}x{label_shape[0]} (WxH)")
    ok, label_png = cv2.imencode(".png", train_ids, [cv2.IMWRITE_PNG_COMPRESSION, LABEL_PNG_COMPRESSION])
    if not ok:
        raise UserError(f"could not encode the trainId map of '{sample.label_path}'")
    return {"image": image_bytes, "label": label_png.tobytes(), "file_name": sample.name,
            "height": int(image.shape[0]), "width": int(image.shape[1])}


def decode_label(data):
    """trainId map (H, W) uint8 from a record's label bytes."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def init_worker():
    """Conversion worker set-up: one OpenCV thread per process; Ctrl-C is handled by the parent."""
    import signal

    cv2.setNumThreads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
