"""Which network-path moves does the loss see? The beta gradient of every move at a search checkpoint.

    python benchmarks/beta_gradients.py --ckpt_path SEARCH_OUT/search_epochN.ckpt
        --data_path MINDRECORD_DIR [--config_path config/demo_search.yaml] [--batches 8]
        [--key value ...]   (the search's own overrides, e.g. --batch_size 16 --move_mixing path)

Loads the checkpoint (or, with ``--ckpt_path init``, the supernet as the config draws it) and
computes the architecture gradient on ``--batches`` batches of half B in training mode, as the
architecture step does. Prints per source node (layer, level) each existing move's mean gradient
and its spread over the batches. A move whose gradient is orders of magnitude below the others
is one the search cannot learn: under ``move_mixing: paper`` that is the stem's move, the first
cell's level (docs/search.md, The level of the first cell). A diagnostic, not a test.
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
from src.nas.search_trainer import SearchTrainer  # noqa: E402

MOVE_NAMES = ("finer", "same", "coarser")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", required=True, help="a search checkpoint, or 'init' for the drawn supernet")
    parser.add_argument("--data_path", required=True, help="the search's MindRecord folder")
    parser.add_argument("--config_path", default="config/demo_search.yaml", help="the search's config")
    parser.add_argument("--batches", type=int, default=8, help="batches of half B to average over")
    args, rest = parser.parse_known_args(argv)
    if args.ckpt_path != "init" and not os.path.isfile(args.ckpt_path):
        raise UserError(f"--ckpt_path {args.ckpt_path}: no such file; pass a search_epochN.ckpt or 'init'")
    if len(rest) % 2 or not all(key.startswith("--") for key in rest[::2]):
        raise UserError(f"search overrides {' '.join(rest)}: give them as --key value pairs")
    if args.batches < 2:
        raise UserError(f"--batches {args.batches}: the spread needs at least 2")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    output = os.path.join(os.path.dirname(os.path.abspath(args.ckpt_path)), "beta_gradients")
    overrides = {key[2:]: value for key, value in zip(rest[::2], rest[1::2])}
    cfg = load_config(args.config_path, {**overrides, "data_path": args.data_path, "output_path": output})
    trainer = SearchTrainer(cfg, find_mindrecord(args.data_path, "train"), output)
    if args.ckpt_path != "init":
        trainer.resume(args.ckpt_path)
    trainer.net.set_train(True)
    grads = []
    for image, label in trainer.batches(trainer.start_epoch, "B"):
        _, step_grads = trainer.grad(ms.Tensor(image), ms.Tensor(label))
        grads.append(step_grads[-1].asnumpy())  # betas: the last architecture parameter
        if len(grads) == args.batches:
            break
    grads = np.array(grads)
    mean, spread = grads.mean(axis=0), grads.std(axis=0)
    mask = trainer.net.move_mask.asnumpy() > 0
    print(f"{args.ckpt_path}: beta gradient over {len(grads)} batches of half B (move_mixing {cfg.move_mixing})")
    print("source (layer, level) | move: mean (sd) ...")
    for layer, level in zip(*np.nonzero(mask.any(axis=2))):
        moves = [f"{MOVE_NAMES[k]}: {mean[layer, level, k]:+.2e} ({spread[layer, level, k]:.1e})"
                 for k in range(3) if mask[layer, level, k]]
        print(f"({layer}, {level}) | " + " | ".join(moves))
    typical = np.median(np.abs(mean[mask]))
    print(f"stem's move (the first cell's level): |mean| {np.abs(mean[0, 0]).max():.1e}, "
          f"median |mean| over all moves {typical:.1e}")


if __name__ == "__main__":
    run_main(main)
