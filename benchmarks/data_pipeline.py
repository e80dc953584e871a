"""Data throughput at Cityscapes size: MindRecord conversion (images/s) and train pipeline (samples/s).

    python benchmarks/data_pipeline.py [--num_images 8] [--epochs 4]

Generates synthetic 1024x2048 scenes in a temporary directory, converts them with two worker
processes, then reads them through the training's pipeline (``src.train.data.run_dataset``: the
run's rows in their fixed order) at crop 769 (batch 2, two workers).
Prints each figure with PASS/FAIL against its target; always exits 0. The verdict uses the
measured wall-clock rate; the CPU time per item (all threads and worker processes) and the load
average are printed too, because other jobs on a shared machine lower the wall-clock rate.
"""
import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import src  # noqa: E402,F401  (CPU set-up before mindspore)
from src.data.mindrecord_writer import build_mindrecord  # noqa: E402
from src.data.synthetic import generate  # noqa: E402

CONVERT_TARGET = 4.0   # images/s on 2 cores
PIPELINE_TARGET = 15.0  # samples/s on 2 cores
CROP, BATCH = 769, 2


def _cpu_seconds():
    """CPU time of this process (all threads) plus its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _report(name, count, wall, cpu, unit, target):
    rate = count / wall
    verdict = "PASS" if rate >= target else "FAIL"
    print(f"{name}: {rate:.2f} {unit} (target >= {target:g}) {verdict}; {1000 * cpu / count:.0f} ms CPU per item "
          f"(2 idle cores: <= {2 * count / cpu:.1f} {unit}); load average {os.getloadavg()[0]:.1f}")


def _pipeline_rate(path, epochs):
    """(samples, wall s, CPU s) of the train pipeline over `epochs` epochs after a warm-up epoch."""
    # Imported here, not at the top: the conversion's spawned workers import this script, and
    # they should not pay for importing mindspore.
    from src.config import Config, validate
    from src.train.data import record_size, run_dataset, steps_per_epoch

    cfg = Config(validate(dict(batch_size=BATCH, crop_size=CROP, min_scale=0.5, max_scale=2.0, seed=0,
                               num_parallel_workers=2), "benchmark"))
    rows = record_size(path)
    per_epoch = steps_per_epoch(cfg, path, rows, 1)
    data = run_dataset(cfg, path, rows, 0, (epochs + 1) * per_epoch, per_epoch, 0, 1)
    iterator = data.create_tuple_iterator(output_numpy=True, num_epochs=1)
    for step, _ in enumerate(iterator, 1):
        if step == per_epoch:
            break
    start, cpu, samples = time.perf_counter(), _cpu_seconds(), 0
    for image, _label in iterator:
        samples += len(image)
    return samples, time.perf_counter() - start, _cpu_seconds() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num_images", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4, help="pipeline epochs timed after one warm-up epoch")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="adl_data_bench_") as work:
        root, records = os.path.join(work, "cityscapes"), os.path.join(work, "mindrecord")
        start = time.perf_counter()
        generate(root, args.num_images, 0, 1024, 2048, seed=0)
        print(f"generated {args.num_images} synthetic 1024x2048 images in {time.perf_counter() - start:.1f} s")

        import mindspore.mindrecord  # noqa: F401  (import cost is not conversion cost)

        start, cpu = time.perf_counter(), _cpu_seconds()
        (path,) = build_mindrecord(root, records, "train", num_workers=2, progress=False)
        _report("build_mindrecord", args.num_images, time.perf_counter() - start, _cpu_seconds() - cpu, "images/s",
                CONVERT_TARGET)
        _report(f"train pipeline (crop {CROP}, batch {BATCH})", *_pipeline_rate(path, args.epochs), "samples/s",
                PIPELINE_TARGET)
    return 0


if __name__ == "__main__":
    sys.exit(main())
