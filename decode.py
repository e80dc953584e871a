"""Decode a search checkpoint into an architecture (README, Decode).

    python decode.py --ckpt_path search_epoch40.ckpt --output_path DIR [--path_decode evidence]
    (ModelArts: --enable_modelarts true --data_url OBS --checkpoint_url OBS_CKPT --train_url OBS_OUTPUT)

Writes DIR/architecture.json (path, genotype, provenance), DIR/net_arch.npy + DIR/cell_arch.npy
(the ModelZoo pair) and DIR/architecture.png (path over the beta trellis, and the cell).
"""
import argparse

from src.errors import UserError, run_main
from src.fileio import check_output_location
from src.modelarts import add_arguments, argparse_job
from src.nas.decode import PATH_DECODES


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt_path", help="search checkpoint written by search.py (required)")
    parser.add_argument("--output_path", help="folder for the architecture files (required)")
    parser.add_argument("--path_decode", choices=tuple(PATH_DECODES),
                        help="how the network path is decoded (docs/search_decisions.md); default: the search's")
    add_arguments(parser)
    args = parser.parse_args(argv)
    import src  # noqa: F401  (CPU set-up before mindspore)
    from src.nas.search_export import export_architecture

    with argparse_job(args) as local:
        ckpt_path, output_path = (local.checkpoint, local.output) if local else (args.ckpt_path, args.output_path)
        check_output_location(output_path, "folder", "--output_path")
        if not ckpt_path or not output_path:
            raise UserError("pass --ckpt_path (a search checkpoint) and --output_path")
        for name, path in export_architecture(ckpt_path, output_path, args.path_decode).items():
            print(f"{name}: {path}")


if __name__ == "__main__":
    run_main(main)
