"""Auto-DeepLab architecture search (first-order DARTS on the supernet, SPEC 5).

    python search.py --data_path MINDRECORD_DIR --output_path DIR [--resume CKPT] [--KEY VALUE ...]

Writes per epoch: search_epoch<N>.ckpt (resumable), arch_history.npz, architecture.json.
"""
import os

from src.config import CONFIG_DIR, parse_config
from src.errors import run_main
from src.modelarts import modelarts_config


def main(argv=None):
    cfg = parse_config(argv, default_config_path=os.path.join(CONFIG_DIR, "search.yaml"),
                       description="Search alpha (cell) and beta (network path) of Auto-DeepLab; "
                                   "--resume CKPT continues a search exactly.")
    from src.nas.search_trainer import search

    with modelarts_config(cfg, checkpoint_key="resume") as cfg:
        search(cfg)


if __name__ == "__main__":
    run_main(main)
