"""Does the search's verdict tell data from noise? The same search on real and on shuffled labels.

    python benchmarks/search_verdict.py --output_path DIR [--data "96 12 256 512"]
        [--run NAME "OVERRIDES" ...]

The default is the demo's search on the demo's data; the other rows of the docs' tables came from
    --run lr0.01 "--arch_lr 0.01", --run halfwarmup "--arch_start_epoch 5 --arch_lr 0.03",
    --run bd1 "--alpha_logsumexp_weight 1" --run bd0.1 "--alpha_logsumexp_weight 0.1", and
    (with the search config of before 2026-12-06: batch 2, 3 epochs, arch lr 3e-3)
    --data "192 24 256 512" --run lr0.01 "--batch_size 8 --epochs 6 --arch_start_epoch 2 --arch_lr 0.01"
        --run auxskip "--batch_size 8 --epochs 6 --arch_start_epoch 2 --arch_lr 0.01 --aux_skip_weight 1"

1. Generates the demo scenes twice (src/data/synthetic.py, seed 0): with their labels, and with
   each label map's pixels permuted (``--shuffled_labels``: labels without information), and
   their MindRecord files.
2. Runs search.py (config/demo_search.yaml plus each run's overrides) on both, one process at a
   time; a finished run (its last checkpoint written) is not run again, so an interrupted
   benchmark resumes.
3. Prints one row per run and data set: architecture steps, fall of the mean alpha entropy (% of
   ln 8), largest alpha change, op and path z, parameter-free kept ops, held-out supernet mIoU,
   verdict; then PASS/FAIL of the targets for the first run: on real labels an entropy fall
   of at least 1% and "decided", on shuffled labels "not determined by the data".

A benchmark (5-8 minutes per search here), not a test. Its table is in docs/search_decisions.md,
Measured on the demo data, and on the same data with shuffled labels.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_RUNS = [("demo", "")]
DATA_SETS = (("real", []), ("shuffled", ["--shuffled_labels"]))
MIN_ENTROPY_FALL = 1.0  # % of ln 8


def run(command):
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def make_data(output, name, flags, sizes):
    """The MindRecord folder of one data set (built once)."""
    records = os.path.join(output, name, "mindrecord")
    if os.path.isfile(os.path.join(records, "cityscapes_val.mindrecord")):
        return records
    images = os.path.join(output, name, "cityscapes")
    run([sys.executable, "-m", "src.data.synthetic", "--output_path", images, "--num_train", sizes[0],
         "--num_val", sizes[1], "--height", sizes[2], "--width", sizes[3], "--seed", "0", "--overwrite"] + flags)
    for split in ("train", "val"):
        run([sys.executable, "build_mindrecord.py", "--data_path", images, "--output_path", records,
             "--split", split, "--overwrite"])
    return records


def search(records, folder, overrides):
    """search.py into ``folder`` unless a finished run is there; returns its history and provenance."""
    history_path = os.path.join(folder, "arch_history.npz")
    done = os.path.join(folder, "done")
    if not os.path.isfile(done):
        run([sys.executable, "search.py", "--config_path", "config/demo_search.yaml", "--data_path", records,
             "--output_path", folder] + shlex.split(overrides))
        open(done, "w").close()
    with open(os.path.join(folder, "architecture.json"), encoding="utf-8") as f:
        return dict(np.load(history_path)), json.load(f)["provenance"]


def row(name, data_set, history, provenance):
    entropy_fall = 100 * (np.log(8) - history["alpha_entropy"][-1]) / np.log(8)
    evidence = provenance["evidence"]
    z_text = lambda z: "-" if z is None else "%.2f" % z
    cells = [name, data_set, str(evidence["architecture_steps"]), "%.2f%%" % entropy_fall,
             "%.3f" % history["alpha_change"][-1], " ".join(z_text(z) for z in evidence["op_z"]),
             z_text(evidence["path_z"]), "%d of %d" % (history["parameter_free_ops"][-1], len(evidence["op_z"])),
             "%.1f%%" % (100 * history["miou_heldout"][-1]), provenance["verdict"]]
    return cells, entropy_fall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--data", default="96 12 256 512", help="NUM_TRAIN NUM_VAL HEIGHT WIDTH of both data sets")
    parser.add_argument("--run", nargs=2, action="append", metavar=("NAME", "OVERRIDES"),
                        help="a search: its name and search.py overrides (default: %s)" % DEFAULT_RUNS)
    args = parser.parse_args(argv)
    sizes = args.data.split()
    runs = args.run or DEFAULT_RUNS
    records = {name: make_data(args.output_path, name, flags, sizes) for name, flags in DATA_SETS}
    header = ["run", "labels", "arch steps", "entropy fall", "largest alpha change", "op z", "path z",
              "parameter-free ops", "held-out mIoU", "verdict"]
    table, first = [], {}
    for name, overrides in runs:
        for data_set, _ in DATA_SETS:
            history, provenance = search(records[data_set], os.path.join(args.output_path, "runs", name, data_set),
                                         overrides)
            cells, entropy_fall = row(name, data_set, history, provenance)
            table.append(cells)
            if name == runs[0][0]:
                first[data_set] = (entropy_fall, provenance["verdict"])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cells in table:
        print("| " + " | ".join(cells) + " |")
    passed = (first["real"][0] >= MIN_ENTROPY_FALL and first["real"][1] == "decided"
              and first["shuffled"][1] == "not determined by the data")
    print("%s: run %s, real labels: entropy fall %.2f%% (target >= %.0f%%), %s (target decided); shuffled "
          "labels: %s (target not determined by the data)" % (
              "PASS" if passed else "FAIL", runs[0][0], first["real"][0], MIN_ENTROPY_FALL, first["real"][1],
              first["shuffled"][1]))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
