"""The project's label table equals cityscapesscripts' entry by entry; lookup tables follow it."""
import numpy as np
from cityscapesscripts.helpers import labels as official

from src.data import labels


def test_every_label_and_field_matches_cityscapesscripts():
    assert len(labels.LABELS) == len(official.labels) == 35
    for ours, theirs in zip(labels.LABELS, official.labels):
        assert ours._fields == theirs._fields
        assert tuple(ours) == tuple(theirs), ours.name


def test_id_to_train_id_lookup():
    for label in official.labels:
        expected = label.trainId if 0 <= label.trainId < 255 else 255
        assert labels.label_ids_to_train_ids(np.array([label.id]))[0] == expected, label.name
        if label.id >= 0:
            assert labels.ID_TO_TRAIN_ID[label.id] == expected, label.name
    # -1 (license plate), ids beyond the table and uint8 255 are ignored
    assert labels.label_ids_to_train_ids(np.array([-1, 34, 200, 1000])).tolist() == [255] * 4
    assert (labels.ID_TO_TRAIN_ID[34:] == 255).all()
    assert labels.ID_TO_TRAIN_ID.dtype == np.uint8


def test_train_id_to_id_and_names_and_palette():
    assert labels.NUM_CLASSES == 19
    official_train = sorted((l for l in official.labels if 0 <= l.trainId < 255), key=lambda l: l.trainId)
    assert labels.TRAIN_CLASS_NAMES == tuple(l.name for l in official_train)
    for train_id, label in enumerate(official_train):
        assert labels.TRAIN_ID_TO_ID[train_id] == label.id
        assert tuple(labels.TRAIN_ID_PALETTE[train_id]) == label.color
    ids = np.arange(34)
    train_ids = labels.ID_TO_TRAIN_ID[ids]
    kept = train_ids != 255
    assert (labels.TRAIN_ID_TO_ID[train_ids[kept]] == ids[kept]).all()


def test_train_ids_to_color():
    colour = labels.train_ids_to_color(np.array([[0, 13, 255]], np.uint8))
    assert colour.tolist() == [[[128, 64, 128], [0, 0, 142], [0, 0, 0]]]
