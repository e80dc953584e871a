"""Auto-DeepLab architecture search (first-order DARTS on the supernet; docs/search.md, Method).

    python search.py --data_path MINDRECORD_DIR --output_path DIR [--resume CKPT] [--KEY VALUE ...]

Writes per epoch: search_epoch<N>.ckpt (resumable), arch_history.npz, architecture.json.
"""
import src  # noqa: F401  (CPU set-up before mindspore)
from src.errors import run_main
from src.stage import run_stage


def main(argv=None):
    from src.data.datasets import with_dataset
    from src.nas.search_trainer import search

    return run_stage("search", lambda cfg: search(with_dataset(cfg, reads_records=True)), argv,
                     default_config="search.yaml", description=__doc__, checkpoint_key="resume")


if __name__ == "__main__":
    run_main(main)
