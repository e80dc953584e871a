"""Retrain an Auto-DeepLab network on Cityscapes MindRecord data (SPEC 4).

    python train.py --config_path config/autodeeplab_s.yaml --data_path MINDRECORD_DIR \
        --output_path DIR [--arch_path ARCH_FILE] [--resume CKPT] [--KEY VALUE ...]
"""
import os

from src.config import CONFIG_DIR, parse_config
from src.errors import run_main
from src.modelarts import modelarts_config


def main(argv=None):
    cfg = parse_config(argv, default_config_path=os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"),
                       description="Retrain Auto-DeepLab (weights, optimizer state and step are checkpointed; "
                                   "--resume CKPT continues a run exactly).")
    from src.train.trainer import train

    with modelarts_config(cfg, checkpoint_key="resume") as cfg:
        train(cfg)


if __name__ == "__main__":
    run_main(main)
