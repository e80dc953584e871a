"""decode.py: search checkpoint -> architecture.json, the ModelZoo .npy pair and a PNG."""
import os

from src.checkpoint import SEARCH, read_checkpoint
from src.errors import UserError
from src.nas.decode import DEFAULT_PATH_DECODE, EVIDENCE_DECODES
from src.nas.health import path_decode_input, verdict
from src.nas.search_plot import draw_architecture
from src.nas.search_trainer import (halfway_evidence, history_evidence, read_evidence, verdict_provenance,
                                    write_decoded_architecture)


def export_architecture(ckpt_path, output_dir, path_decode=None):
    """Write the decoded architecture files, the path decoded by ``path_decode`` (None: the
    search's); returns {kind: path}."""
    ckpt = read_checkpoint(ckpt_path, "--ckpt_path", expect=SEARCH).require(SEARCH, purpose="decode.py")
    alphas, betas = ckpt.params["alphas"].asnumpy(), ckpt.params["betas"].asnumpy()
    scored_path = ckpt.meta.get("scored_path")  # path_search single_path, from its first scoring on
    if scored_path and path_decode is not None:
        raise UserError(f"{ckpt_path} is from a single_path search, whose path was chosen by its supernet "
                        "score, not decoded from beta: drop --path_decode")
    if path_decode is None:  # the search's; older checkpoints: the default
        path_decode = ckpt.meta.get("path_decode", DEFAULT_PATH_DECODE)
    evidence = read_evidence(ckpt.params)
    if evidence is None and path_decode in EVIDENCE_DECODES:
        raise UserError(f"{ckpt_path} has no architecture-gradient evidence, which the path decode "
                        f"{path_decode!r} reads: decode a checkpoint of a search that recorded it, or "
                        "pass another --path_decode")
    os.makedirs(output_dir, exist_ok=True)
    paths = {"architecture": os.path.join(output_dir, "architecture.json"),
             "picture": os.path.join(output_dir, "architecture.png")}
    provenance = {"source": "decode.py", "checkpoint": os.path.abspath(ckpt_path), "epoch": ckpt.meta.get("epoch")}
    path_input = betas
    if evidence is not None:  # checkpoints written before the evidence was recorded have no verdict
        steps = evidence["alpha"].count
        earlier = halfway_evidence(history_evidence(os.path.dirname(os.path.abspath(ckpt_path)), steps), steps)
        path_input = path_decode_input(betas, evidence["beta"], path_decode)
        provenance.update(verdict_provenance(verdict(
            alphas, path_input, evidence["alpha"], evidence["beta"], path_decode, earlier=earlier,
            scored_path_z=scored_path["z"] if scored_path else None)))
    architecture = write_decoded_architecture(paths["architecture"], alphas, path_input, provenance, path_decode,
                                              scored_path=scored_path)
    paths["net_arch"] = os.path.join(output_dir, "net_arch.npy")
    paths["cell_arch"] = os.path.join(output_dir, "cell_arch.npy")
    architecture.save_modelzoo_npy(paths["net_arch"], paths["cell_arch"])
    draw_architecture(paths["picture"], betas, architecture.network_path, architecture.cell)
    return paths
