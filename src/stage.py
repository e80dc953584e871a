"""The one way a config-driven entry script runs its stage.

Parse the stage's options (schema defaults, YAML file, command line), in ModelArts mode fetch the
inputs and mirror the outputs (``src.modelarts.modelarts_config``), check the output folder up
front, then call the stage. Entry scripts wrap ``main`` in ``src.errors.run_main``.
"""
import os

from src.config import CONFIG_DIR, parse_config
from src.fileio import check_output_location
from src.modelarts import modelarts_config


def run_stage(stage, run, argv=None, default_config="autodeeplab_s.yaml", description=None,
              epilog=None, checkpoint_key="ckpt_path", extra=None):
    """Run ``run(cfg)`` (``run(cfg, extra_args)`` when ``extra`` is given) for ``stage``; returns
    None, so ``run_main`` exits 0 (a stage's own return value is for programmatic callers).

    ``extra`` (optional) is an argparse parser of options outside the schema (predict's --model);
    ``checkpoint_key`` is the key that ModelArts' checkpoint_url fills in."""
    extra_args = None
    if extra is not None:
        extra_args, argv = extra.parse_known_args(argv)
    cfg = parse_config(argv, os.path.join(CONFIG_DIR, default_config), description=description,
                       epilog=epilog, stage=stage)
    with modelarts_config(cfg, checkpoint_key=checkpoint_key) as cfg:
        check_output_location(cfg.output_path, "folder", "--output_path")
        if extra is None:
            run(cfg)
        else:
            run(cfg, extra_args)
