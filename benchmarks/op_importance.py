"""Would choosing ops by their effect (DARTS-PT) pick other ops than alpha's magnitude?

    python benchmarks/op_importance.py --ckpt_path SEARCH_OUT/search_epoch10.ckpt
        --data_path MINDRECORD_DIR [--config_path config/demo_search.yaml]

Wang et al. (ICLR 2021) pick each edge's op by how much the trained supernet suffers without it.
This loads a search checkpoint and, for each cell edge (alpha is shared by every node), masks each
non-none op in turn (its logit set to -1e9, so the edge's other ops renormalise; DARTS-PT zeroes
it and fine-tunes between edges, which this does not) and scores the supernet on the held-out
(val) crops the search scores each epoch. Prints per edge the magnitude choice (alpha argmax) and
the op whose removal raises the held-out cross-entropy most, with every op's loss and mIoU change
(positive: the supernet needs the op). A diagnostic, not a selector: docs/search_decisions.md,
DARTS-PT, has its reading on the demo search.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import src  # noqa: E402,F401  (CPU set-up before mindspore)
import mindspore as ms  # noqa: E402

from src.config import load_config  # noqa: E402
from src.data.mindrecord_writer import find_mindrecord  # noqa: E402
from src.errors import UserError, run_main  # noqa: E402
from src.eval.metrics import ConfusionMatrix  # noqa: E402
from src.layers.operations import PRIMITIVES  # noqa: E402
from src.nas.search_trainer import SearchTrainer, heldout_mindrecord, regroup  # noqa: E402
from src.numeric import softmax  # noqa: E402

MASKED_LOGIT = -1e9


def heldout_score(net, batches, num_classes, ignore_label):
    """(mIoU, mean pixel cross-entropy) of the supernet on ``batches``."""
    matrix, losses = ConfusionMatrix(num_classes, ignore_label), []
    for image, label in batches:
        logits = net(ms.Tensor(image)).asnumpy()
        matrix.update(logits.argmax(axis=1), label)
        valid = label != ignore_label
        picked = np.take_along_axis(softmax(logits, axis=1), np.where(valid, label, 0)[:, None], axis=1)[:, 0]
        losses.append(-np.log(np.maximum(picked[valid], 1e-12)).mean())
    return matrix.scores()["miou"], float(np.mean(losses))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", required=True, help="a search checkpoint (search_epochN.ckpt)")
    parser.add_argument("--data_path", required=True, help="the search's MindRecord folder (train and val)")
    parser.add_argument("--config_path", default="config/demo_search.yaml", help="the search's config")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.ckpt_path):
        raise UserError(f"--ckpt_path {args.ckpt_path}: no such file; pass a search_epochN.ckpt")
    heldout = heldout_mindrecord(args.data_path)
    if not heldout:
        raise UserError(f"--data_path {args.data_path}: no val MindRecord; the probe scores held-out images")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    output = os.path.join(os.path.dirname(os.path.abspath(args.ckpt_path)), "op_importance")
    cfg = load_config(args.config_path, {"data_path": args.data_path, "output_path": output})
    trainer = SearchTrainer(cfg, find_mindrecord(args.data_path, "train"), output, heldout)
    trainer.resume(args.ckpt_path)
    net = trainer.net
    net.set_train(False)
    batches = list(regroup(trainer.heldout_batches(0, shuffle=False), trainer.eval_batch))
    alphas = net.alphas.asnumpy().copy()
    base_miou, base_loss = heldout_score(net, batches, cfg.num_classes, cfg.ignore_label)
    print(f"{args.ckpt_path}: held-out mIoU {100 * base_miou:.2f}%, cross-entropy {base_loss:.4f}")
    print("edge | magnitude (softmax) | most needed by loss | loss change / mIoU change (points) per masked op")
    weights = softmax(alphas)
    for edge in range(len(alphas)):
        changes = {}
        for op in range(1, alphas.shape[1]):
            masked = alphas.copy()
            masked[edge, op] = MASKED_LOGIT
            net.alphas.set_data(ms.Tensor(masked))
            miou, loss = heldout_score(net, batches, cfg.num_classes, cfg.ignore_label)
            changes[PRIMITIVES[op]] = (loss - base_loss, 100 * (base_miou - miou))
        net.alphas.set_data(ms.Tensor(alphas))
        magnitude = 1 + int(np.argmax(weights[edge, 1:]))
        needed = max(changes, key=lambda name: changes[name][0])
        print(f"{edge} | {PRIMITIVES[magnitude]} ({weights[edge, magnitude]:.3f}) | {needed} | "
              + " ".join(f"{name} {loss:+.4f}/{miou:+.2f}" for name, (loss, miou) in changes.items()), flush=True)


if __name__ == "__main__":
    run_main(main)
