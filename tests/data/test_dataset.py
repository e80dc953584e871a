"""Train/eval pipelines on the demo MindRecord: shapes, crop/pad/flip semantics, determinism, sharding."""
import cv2
import numpy as np
import pytest

from src.data.cityscapes import find_samples
from src.data import dataset
from src.data.dataset import scale_flip_crop
from src.data.labels import ID_TO_TRAIN_ID
from src.data.mindrecord_writer import find_mindrecord
from src.errors import UserError

# ImageNet statistics (RGB) as published with torchvision's pretrained models.
MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
# The config values the pipelines take (the schema's defaults), with one loader worker.
TRAIN_VALUES = dict(min_scale=0.5, max_scale=2.0, channel_order="rgb", seed=0, num_parallel_workers=1)
EVAL_VALUES = dict(channel_order="rgb", num_parallel_workers=1)


FILE_ORDER = np.arange(6)  # the demo MindRecord's 6 training rows


def create_train_dataset(mindrecord_path, order=(FILE_ORDER,), **values):
    return dataset.create_train_dataset(mindrecord_path, ListOrder(order), **{**TRAIN_VALUES, **values})


class ListOrder(list):
    """An order (src.train.data.RunOrder's interface): row arrays per epoch; len = rows in all."""

    def __len__(self):
        return sum(len(rows) for rows in self)


def create_eval_dataset(mindrecord_path, **values):
    return dataset.create_eval_dataset(mindrecord_path, **{**EVAL_VALUES, **values})


def _sources(root, split):
    """{name: (RGB image, trainId map)} read straight from the PNG files."""
    return {s.name: (cv2.imread(s.image_path)[..., ::-1],
                     ID_TO_TRAIN_ID[cv2.imread(s.label_path, cv2.IMREAD_UNCHANGED)])
            for s in find_samples(str(root), split)}


def _batches(dataset, epochs=1):
    it = dataset.create_dict_iterator(output_numpy=True, num_epochs=epochs)
    return [[row for row in it] for _ in range(epochs)]


def _denormalise(image_chw):
    return np.transpose(image_chw * STD + MEAN, (1, 2, 0)) * 255.0


@pytest.fixture(scope="module")
def train_record(demo_mindrecord_dir):
    return find_mindrecord(str(demo_mindrecord_dir), "train")


def test_train_shapes_and_dtypes(train_record):
    (epoch,) = _batches(create_train_dataset(train_record, batch_size=2, crop_size=33, seed=0))
    assert len(epoch) == 3
    for batch in epoch:
        assert batch["image"].shape == (2, 3, 33, 33) and batch["image"].dtype == np.float32
        assert batch["label"].shape == (2, 33, 33) and batch["label"].dtype == np.int32
        assert set(np.unique(batch["label"])) <= set(range(19)) | {255}
    assert set(epoch[0]) == {"image", "label"}


def test_small_scale_pads_image_with_zero_and_label_with_ignore(train_record):
    (epoch,) = _batches(create_train_dataset(train_record, batch_size=1, crop_size=(33, 40), min_scale=0.25,
                                             max_scale=0.25, seed=0))
    pad_value = (0.0 - MEAN) / STD  # a 0 pixel after normalisation
    for batch in epoch:  # 64x128 at scale 0.25 -> 16x32 in a 33x40 crop
        image, label = batch["image"][0], batch["label"][0]
        assert (label[16:] == 255).all() and (label[:, 32:] == 255).all()
        assert (label[:16, :32] != 255).mean() > 0.5
        np.testing.assert_allclose(image[:, 16:, :], np.broadcast_to(pad_value, (3, 17, 40)), rtol=1e-6)
        np.testing.assert_allclose(image[:, :, 32:], np.broadcast_to(pad_value, (3, 33, 8)), rtol=1e-6)


def test_scale_one_full_crop_is_the_source_or_its_mirror(train_record, demo_cityscapes_root):
    sources = list(_sources(demo_cityscapes_root, "train").values())
    (rows,) = _batches(create_train_dataset(train_record, (FILE_ORDER, FILE_ORDER), batch_size=1,
                                            crop_size=(64, 128), min_scale=1.0, max_scale=1.0, seed=0))
    epochs = [rows[:6], rows[6:]]
    flips = []
    for epoch in epochs:
        for (src_image, src_label), batch in zip(sources, epoch):
            label, image = batch["label"][0], _denormalise(batch["image"][0])
            flipped = not np.array_equal(label, src_label)
            expected_label, expected_image = (src_label[:, ::-1], src_image[:, ::-1]) if flipped else (src_label,
                                                                                                       src_image)
            np.testing.assert_array_equal(label, expected_label)
            np.testing.assert_allclose(image, expected_image, atol=1e-3)
            flips.append(flipped)
    assert any(flips) and not all(flips)


def test_same_seed_same_batches_other_seed_other_batches(train_record):
    shuffled = np.random.default_rng(0).permutation(6)

    def run(seed):
        (rows,) = _batches(create_train_dataset(train_record, (shuffled, shuffled), batch_size=2, crop_size=33,
                                                seed=seed))
        labels = [b["label"].ravel() for b in rows]
        return [np.concatenate(labels[:3]), np.concatenate(labels[3:])]

    first, again, other = run(3), run(3), run(4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], first[1])  # the same rows later in the run draw new augmentations


def test_eval_sharding_gives_disjoint_halves(demo_mindrecord_dir, train_record, demo_cityscapes_root):
    """(The training's shards are dealt by src.train.data: tests/train/test_data.py.)"""
    names = []
    for rank in (0, 1):
        (epoch,) = _batches(create_eval_dataset(train_record, rank_id=rank, rank_size=2))
        names.append({str(b["file_name"][0]) for b in epoch})
    assert len(names[0]) == len(names[1]) == 3 and not names[0] & names[1]
    assert names[0] | names[1] == set(_sources(demo_cityscapes_root, "train"))


@pytest.mark.parametrize("channel_order", ["rgb", "bgr"])
def test_eval_returns_full_normalised_images(demo_mindrecord_dir, demo_cityscapes_root, channel_order):
    sources = _sources(demo_cityscapes_root, "val")
    (epoch,) = _batches(create_eval_dataset(find_mindrecord(str(demo_mindrecord_dir), "val"),
                                            channel_order=channel_order))
    assert [str(b["file_name"][0]) for b in epoch] == sorted(sources)
    for batch in epoch:
        src_image, src_label = sources[str(batch["file_name"][0])]
        assert batch["image"].shape == (1, 3, 64, 128) and batch["image"].dtype == np.float32
        assert batch["label"].dtype == np.int32
        np.testing.assert_array_equal(batch["label"][0], src_label)
        pixels = src_image if channel_order == "rgb" else src_image[..., ::-1]  # ModelZoo: RGB constants on BGR
        np.testing.assert_allclose(_denormalise(batch["image"][0]), pixels, atol=1e-3)


def test_eval_batches_keep_remainder(demo_mindrecord_dir):
    (epoch,) = _batches(create_eval_dataset(find_mindrecord(str(demo_mindrecord_dir), "val"), batch_size=2))
    assert [b["image"].shape[0] for b in epoch] == [2, 1]


def _test_pair(height=40, width=60):
    """Random-noise image and trainId map: the hardest case for resampling differences."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return image, rng.integers(0, 19, (height, width), dtype=np.uint8)


def test_scale_flip_crop_identity_and_flip():
    image, label = _test_pair()
    out_image, out_label = scale_flip_crop(image, label, 1.0, False, (5, 7), (20, 30))
    np.testing.assert_array_equal(out_image, image[5:25, 7:37])
    np.testing.assert_array_equal(out_label, label[5:25, 7:37])
    out_image, out_label = scale_flip_crop(image, label, 1.0, True, (5, 7), (20, 30))
    np.testing.assert_array_equal(out_image, image[:, ::-1][5:25, 7:37])
    np.testing.assert_array_equal(out_label, label[:, ::-1][5:25, 7:37])


@pytest.mark.parametrize("scale, flip", [(2.0, False), (2.0, True), (1.5, False), (0.5, True)])
def test_crop_before_resize_matches_resize_then_crop(scale, flip):
    image, label = _test_pair()
    if flip:
        image, label = image[:, ::-1].copy(), label[:, ::-1].copy()
    size = (int(60 * scale + 0.5), int(40 * scale + 0.5))
    full_image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    full_label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
    offset, crop = (3, 4), (33, 41)
    source = (image[:, ::-1], label[:, ::-1]) if flip else (image, label)
    out_image, out_label = scale_flip_crop(source[0], source[1], scale, flip, offset, crop)
    valid_h, valid_w = min(crop[0], size[1] - offset[0]), min(crop[1], size[0] - offset[1])
    window = np.s_[offset[0]:offset[0] + valid_h, offset[1]:offset[1] + valid_w]
    # warpAffine samples at 1/32 pixel: on pure noise (steps up to 255) that is a few grey levels
    error = np.abs(out_image[:valid_h, :valid_w].astype(int) - full_image[window])
    assert error.max() <= 5 and error.mean() < 1.0
    if scale == 2.0:  # integer upscaling: nearest neighbour picks the same source pixels
        np.testing.assert_array_equal(out_label[:valid_h, :valid_w], full_label[window])
    assert (out_label[valid_h:] == 255).all() and (out_label[:, valid_w:] == 255).all()
    assert (out_image[valid_h:] == 0).all() and (out_image[:, valid_w:] == 0).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"channel_order": "rbg"}, "channel_order must be one of"),
    ({"crop_size": 0}, "crop_size must be a positive int"),
    ({"min_scale": 2.0, "max_scale": 1.0}, "need 0 < min_scale <= max_scale"),
])
def test_train_argument_errors(train_record, kwargs, message):
    args = {"batch_size": 1, "crop_size": 33, **kwargs}
    with pytest.raises(UserError, match=message):
        create_train_dataset(train_record, **args)


def test_batches_do_not_depend_on_the_number_of_workers(train_record):
    """Order and augmentation are functions of (seed, rank, sample position): 1 and 2 parallel
    workers (MindSpore allows at most the core count) give the same images and labels (docs/cpu.md,
    Reproducibility)."""
    shuffled = np.random.default_rng(1).permutation(6)

    def run(workers):
        data = create_train_dataset(train_record, (shuffled, FILE_ORDER), batch_size=2, crop_size=33, seed=5,
                                    num_parallel_workers=workers)
        (rows,) = _batches(data)
        return np.concatenate([np.concatenate((b["image"].ravel(), b["label"].ravel())) for b in rows])

    np.testing.assert_array_equal(run(1), run(2))
