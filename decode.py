"""Decode a search checkpoint into an architecture (SPEC 6).

    python decode.py --ckpt_path search_epoch40.ckpt --output_path DIR

Writes DIR/architecture.json (path, genotype, provenance), DIR/net_arch.npy + DIR/cell_arch.npy
(the ModelZoo pair) and DIR/architecture.png (path over the beta trellis, and the cell).
"""
import argparse

from src.errors import run_main
from src.fileio import check_output_location


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", required=True, help="search checkpoint written by search.py")
    parser.add_argument("--output_path", required=True, help="folder for the architecture files")
    args = parser.parse_args(argv)
    check_output_location(args.output_path, "folder", "--output_path")
    import src  # noqa: F401  (CPU set-up before mindspore)
    from src.nas.search_export import export_architecture

    for name, path in export_architecture(args.ckpt_path, args.output_path).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    run_main(main)
