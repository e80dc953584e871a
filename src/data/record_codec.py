"""PNG checks and the encoding of one Cityscapes sample into a MindRecord row (no mindspore import).

Kept free of mindspore so conversion worker processes start fast.
"""
import struct
import zlib

import cv2
import numpy as np

from src.data.labels import ID_TO_TRAIN_ID
from src.errors import UserError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
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


def read_png(path):
    """(file bytes, decoded array as stored: BGR or single channel) with clear errors."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise UserError(f"cannot read '{path}': {err.strerror}") from err
    check_png_structure(data, path)
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise UserError(f"'{path}' is an unreadable PNG (decoding failed): re-download or re-extract it")
    return data, array


def encode_sample(sample):
    """MindRecord row of one Sample: source image PNG bytes, trainId label PNG, name, size."""
    image_bytes, image = read_png(sample.image_path)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"'{sample.image_path}' must be an 8-bit RGB PNG, got shape {image.shape} "
                        f"dtype {image.dtype}")
    _, label_ids = read_png(sample.label_path)
    if label_ids.dtype != np.uint8 or label_ids.ndim != 2:
        raise UserError(f"'{sample.label_path}' must be a single-channel 8-bit labelIds PNG "
                        f"(*_gtFine_labelIds.png), got shape {label_ids.shape} dtype {label_ids.dtype}")
    if label_ids.shape != image.shape[:2]:
        raise UserError(f"size mismatch: image '{sample.image_path}' is {image.shape[1]}x{image.shape[0]} but "
                        f"label '{sample.label_path}' is {label_ids.shape[1]}x{label_ids.shape[0]} (WxH)")
    ok, label_png = cv2.imencode(".png", ID_TO_TRAIN_ID[label_ids],
                                 [cv2.IMWRITE_PNG_COMPRESSION, LABEL_PNG_COMPRESSION])
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
