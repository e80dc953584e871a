"""Training step of a retrain network on CPU: compile time, step time, peak memory.

    python benchmarks/train_step.py [--steps 3] [--crop_size 321] [--batch_size 2] [--mode graph]
                                    [--config_path config/autodeeplab_s.yaml]

Builds the train network exactly as train.py does (model, OHEM loss, Momentum with the BN-aware
groups, mindspore.train.Model, fp32, no loss scaling on CPU) and feeds it random images and labels.
The first step includes the graph compile and is reported separately. Peak memory is ru_maxrss.
Before the CPU kernels it measured 5.56 s/step and 59 s compile for this network (idle;
host and date not recorded).
"""
import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import src  # noqa: E402,F401  (CPU set-up before mindspore)
import numpy as np  # noqa: E402

from src.config import CONFIG_DIR, load_config  # noqa: E402


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the compile step")
    parser.add_argument("--crop_size", type=int, default=321)
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--mode", choices=("graph", "pynative"), default="graph")
    parser.add_argument("--config_path", default=os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"),
                        help="the retrain config whose network is trained (default Auto-DeepLab-S)")
    args = parser.parse_args(argv)

    import mindspore as ms
    from mindspore import Tensor
    from mindspore.train import Model

    from src.device import init_device
    from src.model import build_model
    from src.train.loss import build_loss
    from src.train.lr import lr_schedule
    from src.train.optimizer import build_optimizer
    from src.train.precision import loss_scale_manager

    cfg = load_config(args.config_path,
                      {"crop_size": args.crop_size, "batch_size": args.batch_size, "mode": args.mode})
    init_device(cfg)
    net = build_model(cfg)
    params = sum(int(np.prod(p.shape)) for p in net.trainable_params())
    model = Model(net, loss_fn=build_loss(cfg), optimizer=build_optimizer(net, lr_schedule(cfg, 1000), cfg),
                  loss_scale_manager=loss_scale_manager(cfg), amp_level=cfg.amp_level)
    train_step = model.train_network
    train_step.set_train()
    rng = np.random.default_rng(0)
    shape = (args.batch_size, 3, args.crop_size, args.crop_size)
    images = Tensor(rng.normal(size=shape).astype(np.float32))
    labels = Tensor(rng.integers(0, cfg.num_classes, size=(shape[0],) + shape[2:]).astype(np.int32))

    start, cpu = time.time(), _cpu_seconds()
    loss = float(train_step(images, labels).asnumpy())
    first, first_cpu = time.time() - start, _cpu_seconds() - cpu
    times = []
    cpu = _cpu_seconds()
    for _ in range(args.steps):
        start = time.time()
        loss = float(train_step(images, labels).asnumpy())
        times.append(time.time() - start)
    steps_cpu = (_cpu_seconds() - cpu) / max(args.steps, 1)
    print("%s (%s, F %d, %d params), batch %d, crop %d, %s mode, fp32, CPU"
          % (os.path.basename(args.config_path), cfg.variant, cfg.filter_multiplier, params,
             args.batch_size, args.crop_size, args.mode))
    print("first step (compile + step): %.1f s wall, %.1f s CPU" % (first, first_cpu))
    if times:
        print("train step: %.2f s (median of %d; min %.2f, max %.2f), %.1f s CPU per step, %.2f samples/s"
              % (float(np.median(times)), len(times), min(times), max(times), steps_cpu,
                 args.batch_size / float(np.median(times))))
    print("peak memory (ru_maxrss): %.2f GB" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20))
    from src.tools.plan import train_estimate

    parts, seconds = train_estimate(cfg)
    print("planner (src.tools.plan): " + ", ".join("%s %.2f GB" % item for item in parts.items())
          + ", total %.2f GB, %.1f s per step" % (sum(parts.values()), seconds))
    print("last loss %.4f; load average %.1f" % (loss, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
