"""The trained network of a checkpoint, built from the config and ready for inference.

One loader for eval, export and predict (so src/eval and src/deploy both import it from the
model layer, and neither imports the other for it).
"""
import numpy as np


def with_checkpoint_network(cfg, ckpt_path=None, what="--ckpt_path"):
    """``cfg`` with the network the checkpoint ``ckpt_path`` (default cfg.ckpt_path) records, for
    every network key the user did not give (``cfg.given``); given keys stay, and a difference is
    then refused when the weights load. No checkpoint, or one without records: ``cfg`` unchanged.

    A train.py checkpoint records its architecture (arch_path becomes the checkpoint) and
    ``MODEL_CONFIG_KEYS``; a ModelZoo-port checkpoint says only that its variant is modelzoo.
    """
    from src.checkpoint import MODELZOO, RETRAIN, read_checkpoint
    from src.model.weights import MODEL_CONFIG_KEYS

    path = cfg.ckpt_path if ckpt_path is None else ckpt_path
    if not path:
        return cfg
    ckpt = read_checkpoint(path, what)
    if ckpt.kind not in (RETRAIN, MODELZOO):
        return cfg  # load_network / the resume refuse it with the command to run instead
    stored = {"variant": "modelzoo"} if ckpt.kind == MODELZOO else dict(ckpt.meta.get("model_config") or {})
    if ckpt.kind == RETRAIN and ckpt.meta.get("architecture") is not None:
        stored["arch_path"] = path
    adopted = cfg.adopt({key: value for key, value in stored.items() if key in MODEL_CONFIG_KEYS + ("arch_path",)},
                        source=path)
    changed = sorted(key for key in stored if getattr(adopted, key) != getattr(cfg, key))
    if changed:
        print("network from the checkpoint: %s" % ", ".join(
            "its architecture" if key == "arch_path" else "%s %s" % (key, getattr(adopted, key)) for key in changed))
    return adopted


def load_network(cfg, ckpt_path=None, what="--ckpt_path"):
    """AutoDeepLab of ``cfg`` with the weights of ``ckpt_path`` (default cfg.ckpt_path), in eval mode.

    A train.py checkpoint of another architecture or config is refused with the option to change;
    a ModelZoo-port checkpoint loads into ``--variant modelzoo``; a search checkpoint is refused
    with the decode-then-train commands (``src.checkpoint``).
    """
    from src.checkpoint import read_checkpoint
    from src.model import build_model
    from src.model.weights import checkpoint_meta, load_weights

    ckpt = read_checkpoint(ckpt_path or cfg.ckpt_path, what).require_weights_for(cfg.variant)
    net = build_model(cfg)
    load_weights(net, ckpt, strict=True, expected=checkpoint_meta(cfg, net.architecture), variant=cfg.variant)
    net.set_train(False)
    return net


def numpy_forward(net):
    """``forward(batch) -> logits`` over numpy arrays for a MindSpore network."""
    import mindspore as ms

    def forward(batch):
        return net(ms.Tensor(np.ascontiguousarray(batch, np.float32))).asnumpy()

    return forward
