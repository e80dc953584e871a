"""decode.py: search checkpoint -> architecture.json, the ModelZoo .npy pair and a PNG."""
import os

from src.nas.search_plot import draw_architecture
from src.nas.search_trainer import load_search_checkpoint, write_decoded_architecture


def export_architecture(ckpt_path, output_dir):
    """Write the decoded architecture files; returns {kind: path}."""
    params, meta = load_search_checkpoint(ckpt_path)
    alphas, betas = params["alphas"].asnumpy(), params["betas"].asnumpy()
    os.makedirs(output_dir, exist_ok=True)
    paths = {"architecture": os.path.join(output_dir, "architecture.json"),
             "picture": os.path.join(output_dir, "architecture.png")}
    architecture = write_decoded_architecture(
        paths["architecture"], alphas, betas,
        {"source": "decode.py", "checkpoint": os.path.abspath(ckpt_path), "epoch": meta.get("epoch")})
    paths["net_arch"] = os.path.join(output_dir, "net_arch.npy")
    paths["cell_arch"] = os.path.join(output_dir, "cell_arch.npy")
    architecture.save_modelzoo_npy(paths["net_arch"], paths["cell_arch"])
    draw_architecture(paths["picture"], betas, architecture.network_path, architecture.cell)
    return paths
