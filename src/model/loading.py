"""The trained network of a checkpoint, built from the config and ready for inference.

One loader for eval, export and predict (so src/eval and src/deploy both import it from the
model layer, and neither imports the other for it).
"""
import numpy as np


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
