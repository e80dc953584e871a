"""Auto-DeepLab architecture search (first-order DARTS on the supernet, SPEC 5).

    python search.py --data_path MINDRECORD_DIR --output_path DIR [--resume CKPT] [--KEY VALUE ...]

Writes per epoch: search_epoch<N>.ckpt (resumable), arch_history.npz, architecture.json.
"""
import os

from src.config import CONFIG_DIR, parse_config
from src.errors import run_main
from src.fileio import check_output_location


def main(argv=None):
    cfg = parse_config(argv, default_config_path=os.path.join(CONFIG_DIR, "search.yaml"),
                       description="Search alpha (cell) and beta (network path) of Auto-DeepLab; "
                                   "--resume CKPT continues a search exactly.", stage="search")
    check_output_location(cfg.output_path, "folder", "--output_path")
    from src.nas.search_trainer import search

    search(cfg)


if __name__ == "__main__":
    run_main(main)
