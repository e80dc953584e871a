"""MindSpore data pipelines over the Cityscapes MindRecord files.

Columns: image float32 (3, H, W) normalised as ``src.data.normalisation`` defines (channel_order
rgb or the ModelZoo's bgr), label int32 (H, W) with trainIds and 255 = ignore; eval also yields
file_name.
"""
import cv2
import mindspore.dataset as ds
import mindspore.dataset.transforms as transforms
import mindspore.dataset.vision as vision
import numpy as np
from mindspore import dtype as mstype

from src.data.labels import IGNORE_LABEL
from src.data.normalisation import CHANNEL_ORDERS, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB
from src.data.record_codec import decode_label
from src.errors import UserError


def _pair(size, what):
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or min(pair) < 1:
        raise UserError(f"{what} must be a positive int or (height, width), got {size!r}")
    return pair


def scale_flip_crop(image, label, scale, flip, offset, crop_size, ignore_label=IGNORE_LABEL):
    """One crop of the image flipped (if `flip`), resized by `scale`, padded bottom/right to the crop.

    `offset` = (y, x) of the crop window in the scaled, padded frame. Only the pixels inside the
    window are computed (an inverse affine map on the source: bilinear for the image, nearest for
    the label), so large scales cost no more than small ones. Padding: image 0, label ignore_label.
    """
    height, width = label.shape
    crop_h, crop_w = crop_size
    scaled_h, scaled_w = max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))
    sy, sx = scaled_h / height, scaled_w / width
    y0, x0 = offset
    valid_h, valid_w = min(crop_h, scaled_h - y0), min(crop_w, scaled_w - x0)
    # dst pixel (u, v) of the window -> scaled pixel (v + y0, u + x0 or its mirror) -> source pixel,
    # with pixel centres at +0.5 (the cv2.resize convention).
    if flip:
        row_x = [-1.0 / sx, 0.0, (scaled_w - 0.5 - x0) / sx - 0.5]
    else:
        row_x = [1.0 / sx, 0.0, (x0 + 0.5) / sx - 0.5]
    matrix = np.array([row_x, [0.0, 1.0 / sy, (y0 + 0.5) / sy - 0.5]], np.float64)
    flags = cv2.WARP_INVERSE_MAP
    out_image = np.zeros((crop_h, crop_w, image.shape[2]), np.uint8)
    out_label = np.full((crop_h, crop_w), ignore_label, np.uint8)
    out_image[:valid_h, :valid_w] = cv2.warpAffine(image, matrix, (valid_w, valid_h),
                                                   flags=flags | cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out_label[:valid_h, :valid_w] = cv2.warpAffine(label, matrix, (valid_w, valid_h),
                                                   flags=flags | cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    return out_image, out_label


class RowSequence:
    """Source of image, label and key (the row's position in the sequence, from ``first_position``)
    for the rows ``order`` gives: an iterable of row-index arrays (one per epoch) with ``len`` the
    total. One dataset for a whole run in an order fixed outside MindSpore: MindDataset's
    SubsetSampler takes at most one epoch of indices, and its own reshuffling cannot start at epoch e."""

    def __init__(self, mindrecord_path, order, first_position):
        self.mindrecord_path, self.order, self.first_position = mindrecord_path, order, first_position

    def __len__(self):
        return len(self.order)

    def __iter__(self):
        position = self.first_position
        for rows in self.order:
            part = ds.MindDataset(self.mindrecord_path, columns_list=["image", "label"], sampler=ds.SubsetSampler(rows))
            for image, label in part.create_tuple_iterator(num_epochs=1, output_numpy=True):
                yield image, label, np.array(position, np.int64)
                position += 1


class RandomScaleFlipCrop:
    """Train augmentation with a per-row RNG from (seed, rank, row key): same seed, same samples."""

    def __init__(self, crop_size, min_scale, max_scale, ignore_label, seed, rank_id):
        self.crop_size, self.min_scale, self.max_scale = crop_size, min_scale, max_scale
        self.ignore_label, self.seed, self.rank_id = ignore_label, seed, rank_id

    def __call__(self, image, label_png, key):
        rng = np.random.default_rng([self.seed, self.rank_id, int(key)])
        label = decode_label(label_png)
        flip = bool(rng.random() < 0.5)
        scale = rng.uniform(self.min_scale, self.max_scale)
        height, width = label.shape
        scaled_h, scaled_w = max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))
        offset = (int(rng.integers(0, max(scaled_h - self.crop_size[0], 0) + 1)),
                  int(rng.integers(0, max(scaled_w - self.crop_size[1], 0) + 1)))
        return scale_flip_crop(image, label, scale, flip, offset, self.crop_size, self.ignore_label)


def _image_ops(channel_order):
    """C++ ops of ``src.data.normalisation.normalise``: (BGR swap), normalise, HWC -> CHW."""
    if channel_order not in CHANNEL_ORDERS:
        raise UserError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
    ops = [vision.ConvertColor(vision.ConvertMode.COLOR_RGB2BGR)] if channel_order == "bgr" else []
    return ops + [vision.Normalize([m * 255.0 for m in IMAGENET_MEAN_RGB], [s * 255.0 for s in IMAGENET_STD_RGB]),
                  vision.HWC2CHW()]


def _check_rank(rank_id, rank_size):
    if rank_size < 1 or not 0 <= rank_id < rank_size:
        raise UserError(f"rank_id must be in 0..rank_size-1, got rank_id={rank_id} rank_size={rank_size}")
    return {"num_shards": rank_size, "shard_id": rank_id} if rank_size > 1 else {}


def create_train_dataset(mindrecord_path, order, batch_size, crop_size, *, min_scale, max_scale, channel_order, seed,
                         num_parallel_workers, ignore_label=IGNORE_LABEL, rank_id=0, first_position=0):
    """Training pipeline over the rows ``order`` gives, in its order (``RowSequence``; a rank's
    rows of a run come from ``src.train.data``): flip, random scale in [min_scale, max_scale],
    pad, random crop, normalise; full batches.

    The keyword-only values are the config's (src/config.py holds their defaults). Augmentation
    draws come from a per-row RNG keyed by (seed, rank, position from ``first_position``), so the
    same order and seed give the same batches, whatever the number of workers.
    """
    crop_size = _pair(crop_size, "crop_size")
    if not 0 < min_scale <= max_scale:
        raise UserError(f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
    image_ops = _image_ops(channel_order)
    data = ds.GeneratorDataset(RowSequence(mindrecord_path, order, first_position), ["image", "label", "key"],
                               shuffle=False)
    data = data.map(vision.Decode(), input_columns="image", num_parallel_workers=num_parallel_workers)
    data = data.map(RandomScaleFlipCrop(crop_size, min_scale, max_scale, ignore_label, seed, rank_id),
                    input_columns=["image", "label", "key"], output_columns=["image", "label"],
                    num_parallel_workers=num_parallel_workers)
    data = data.map(image_ops, input_columns="image", num_parallel_workers=num_parallel_workers)
    data = data.map(transforms.TypeCast(mstype.int32), input_columns="label")
    data = data.project(["image", "label"])
    return data.batch(batch_size, drop_remainder=True)


def create_eval_dataset(mindrecord_path, *, channel_order, num_parallel_workers, batch_size=1, rank_id=0,
                        rank_size=1):
    """Evaluation pipeline: full images in file order, normalised; columns image, label, file_name."""
    image_ops = _image_ops(channel_order)
    data = ds.MindDataset(mindrecord_path, columns_list=["image", "label", "file_name"], shuffle=False,
                          num_parallel_workers=num_parallel_workers, **_check_rank(rank_id, rank_size))
    data = data.map([vision.Decode()] + image_ops, input_columns="image", num_parallel_workers=num_parallel_workers)
    data = data.map([decode_label, transforms.TypeCast(mstype.int32)], input_columns="label",
                    num_parallel_workers=num_parallel_workers)
    return data.batch(batch_size, drop_remainder=False)
