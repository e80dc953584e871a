"""Search data: a seeded disjoint split of the train records into halves A (weights) and B (arch).

The data module's pipeline has no way to restrict to record indices, so each half is read with a
``SubsetSampler`` in a per-epoch order drawn from (seed, half, epoch) and augmented with the data
module's own ``RandomScaleFlipCrop`` (keyed by (epoch, position), so a resumed epoch sees the same
batches) and normalised as every stage is (``src.data.normalisation``, RGB). Search uses
images at one scale, ``search_scale`` (the paper's 0.5: half resolution; docs/search.md, Method).
"""
import mindspore.dataset as ds
import numpy as np

from src.data.dataset import RandomScaleFlipCrop
from src.data.normalisation import normalise
from src.errors import UserError

HALVES = ("A", "B")


def split_records(num_records, seed):
    """Disjoint halves (sorted index arrays) A and B of ``range(num_records)``, seeded."""
    if num_records < 2:
        raise UserError(f"search needs at least 2 training records to split into halves A and B, "
                        f"got {num_records}; build the train MindRecord from more images")
    order = np.random.default_rng([seed, 7]).permutation(num_records)
    half = num_records // 2
    return np.sort(order[:half]), np.sort(order[half:])


def count_records(mindrecord_path):
    return ds.MindDataset(mindrecord_path, columns_list=["label"], shuffle=False).get_dataset_size()


def half_batches(mindrecord_path, indices, epoch, half, batch_size, crop_size, seed,
                 ignore_label, scale, shuffle=True):
    """Yield (image (N,3,crop,crop) float32, label (N,crop,crop) int32) batches of one half, crops
    of the images resized by ``scale``.

    Incomplete last batches are dropped. The order and augmentation depend only on
    (seed, half, epoch), never on earlier epochs, so any epoch can be replayed exactly.
    """
    half_id = HALVES.index(half)
    order = np.asarray(indices)
    if shuffle:
        order = np.random.default_rng([seed, half_id, epoch]).permutation(order)
    num_batches = len(order) // batch_size
    if num_batches == 0:
        return
    augment = RandomScaleFlipCrop((crop_size, crop_size), scale, scale, ignore_label,
                                  seed=seed + 1000 * half_id, rank_id=epoch)
    data = ds.MindDataset(mindrecord_path, columns_list=["image", "label"],
                          sampler=ds.SubsetSampler(order[:num_batches * batch_size].tolist()))
    data = data.map(ds.vision.Decode(), input_columns="image")
    images, labels = [], []
    for position, (image, label_png) in enumerate(data.create_tuple_iterator(output_numpy=True)):
        image, label = augment(image, label_png, position)
        images.append(normalise(image, "rgb"))  # a supernet from scratch: no ModelZoo BGR
        labels.append(label.astype(np.int32))
        if len(images) == batch_size:
            yield np.stack(images), np.stack(labels)
            images, labels = [], []
