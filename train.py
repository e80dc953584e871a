"""Retrain an Auto-DeepLab network on MindRecord data of any data set (README, Retrain; docs/datasets.md).

    python train.py --config_path config/autodeeplab_s.yaml --data_path MINDRECORD_DIR \
        --output_path DIR [--arch_path ARCH_FILE] [--resume CKPT] [--KEY VALUE ...]
"""
import src  # noqa: F401  (CPU set-up before mindspore)
from src.errors import run_main
from src.stage import run_stage


def main(argv=None):
    from src.data.datasets import with_dataset
    from src.train.trainer import train

    return run_stage("train", lambda cfg: train(with_dataset(cfg, reads_records=True)), argv,
                     description=__doc__, checkpoint_key="resume")


if __name__ == "__main__":
    run_main(main)
