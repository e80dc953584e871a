"""Convert a data set split to MindRecord (labels mapped to train ids, 255 = ignored).

    python build_mindrecord.py --data_path ROOT --output_path DIR --split train [--dataset voc] [--num_shards N]

--dataset: cityscapes (default), voc, ade20k or custom.

--data_path is the data set's root in its layout (listed below; docs/datasets.md). One output folder
holds one data set (its dataset.json).

ModelArts: --enable_modelarts true --data_url OBS_DATA_ROOT --train_url OBS_OUTPUT instead of the paths.
"""
import argparse

import src  # noqa: F401  (applies the CPU set-up before mindspore is imported)
from src.config import boolean
from src.data.datasets import DATASETS, NAMES
from src.data.mindrecord_writer import build_mindrecord
from src.errors import UserError, interruption_note, run_main
from src.fileio import check_output_location
from src.modelarts import add_arguments, argparse_job


def parse_args(argv=None):
    layouts = "\n".join(f"  {name}: {dataset.layout}" for name, dataset in DATASETS.items())
    parser = argparse.ArgumentParser(description=__doc__, epilog="layouts:\n" + layouts,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="cityscapes", choices=NAMES, help="data set layout (default cityscapes)")
    parser.add_argument("--data_path", help="root of the data set in its layout (required)")
    parser.add_argument("--output_path", help="directory for <dataset>_<split>.mindrecord* (required)")
    parser.add_argument("--split", required=True, choices=["train", "val"])
    parser.add_argument("--num_shards", type=int, default=1, help="MindRecord shard files (default 1)")
    parser.add_argument("--num_workers", type=int, default=2, help="decode/encode processes (default 2)")
    parser.add_argument("--overwrite", type=boolean, nargs="?", const=True, default=False, metavar="BOOL",
                        help="replace an existing MindRecord of this split (a bare --overwrite is true)")
    add_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with interruption_note(lambda: "no MindRecord written"), argparse_job(args) as local:
        data_path, output_path = (local.data, local.output) if local else (args.data_path, args.output_path)
        check_output_location(output_path, "folder", "--output_path")
        if not data_path or not output_path:
            raise UserError(f"pass --data_path (the {args.dataset} root) and --output_path")
        files = build_mindrecord(data_path, output_path, args.split, args.num_shards, args.num_workers,
                                 args.overwrite, dataset=args.dataset)
    print("wrote " + ", ".join(files))


if __name__ == "__main__":
    run_main(main)
