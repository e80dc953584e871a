"""Evaluate a checkpoint on the val MindRecord: confusion matrix over all images, then the scores."""
import os

from tqdm import tqdm

from src.data.datasets import output_table
from src.data.labels import TRAIN_CLASS_NAMES
from src.eval.inference import ScaleFlipInference
from src.eval.metrics import ConfusionMatrix, format_scores
from src.eval.results import save_json
from src.errors import UserError

RESULTS_FILE = "eval_results.json"


def class_names(num_classes):
    """Cityscapes names for 19 classes, numbers otherwise."""
    return TRAIN_CLASS_NAMES if num_classes == len(TRAIN_CLASS_NAMES) else [str(c) for c in range(num_classes)]


def inference_from_config(forward, cfg):
    """ScaleFlipInference with the config's flip, scales and sliding-window options."""
    return ScaleFlipInference(forward, scales=cfg.scales, flip=cfg.flip, sliding_window=cfg.sliding_window,
                              crop_size=cfg.crop_size)


def evaluate_forward(forward, cfg, split="val", progress=True):
    """Scores of ``forward`` (numpy batch -> logits) on the ``split`` MindRecord of cfg.data_path."""
    from src.data.dataset import create_eval_dataset
    from src.data.mindrecord_writer import find_mindrecord

    if not cfg.data_path:
        raise UserError("data_path is not set; pass --data_path with the folder of the MindRecord files "
                        "(build_mindrecord.py output)")
    dataset = create_eval_dataset(find_mindrecord(cfg.data_path, split), batch_size=1,
                                  channel_order=cfg.channel_order, num_parallel_workers=cfg.num_parallel_workers)
    inference = inference_from_config(forward, cfg)
    matrix = ConfusionMatrix(cfg.num_classes, cfg.ignore_label)
    rows = dataset.create_dict_iterator(num_epochs=1, output_numpy=True)
    for row in tqdm(rows, total=dataset.get_dataset_size(), desc="eval", unit="image", disable=not progress):
        matrix.update(inference.predict(row["image"][0]), row["label"][0])
    if matrix.matrix.sum() == 0:
        raise UserError("the %s split of '%s' has no labelled pixels to score" % (split, cfg.data_path))
    return matrix.scores(output_table(cfg).names)


def run_eval(cfg, progress=True):
    """eval.py: load the checkpoint, score it, print the table, save ``eval_results.json``."""
    from src.device import init_device
    from src.model.loading import load_network, numpy_forward, with_checkpoint_network

    init_device(cfg)
    cfg = with_checkpoint_network(cfg)
    net = load_network(cfg)
    scores = evaluate_forward(numpy_forward(net), cfg, progress=progress)
    scores["checkpoint"] = os.path.abspath(cfg.ckpt_path)
    scores["options"] = {"flip": cfg.flip, "scales": cfg.scales, "sliding_window": cfg.sliding_window,
                         "crop_size": cfg.crop_size if cfg.sliding_window else None}
    print(format_scores(scores))
    path = save_json(os.path.join(cfg.output_path, RESULTS_FILE), scores)
    print("scores saved to %s" % path)
    return scores
