r"""Score a checkpoint on the val split of its data set: mIoU, per-class IoU, pixel accuracy.

    python eval.py --config_path config/autodeeplab_s.yaml --data_path MINDRECORD_DIR \
        --ckpt_path CKPT [--flip true] [--scales 0.5,0.75,1.0,1.25,1.5,1.75] [--sliding_window true]

Prints the per-class table and writes OUTPUT_PATH/eval_results.json.
"""
import src  # noqa: F401  (CPU set-up before mindspore)
from src.errors import run_main
from src.stage import run_stage


def main(argv=None):
    from src.data.datasets import with_dataset
    from src.eval.evaluate import run_eval

    return run_stage("eval", lambda cfg: run_eval(with_dataset(cfg, reads_records=True)), argv, description=__doc__)


if __name__ == "__main__":
    run_main(main)
