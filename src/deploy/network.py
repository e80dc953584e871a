"""The trained network of a checkpoint, built from the config and ready for inference."""
import numpy as np


def load_trained_network(cfg, ckpt_path=None):
    """AutoDeepLab of ``cfg`` with the weights of ``ckpt_path`` (default cfg.ckpt_path), in eval mode.

    A checkpoint of another architecture or config is refused with the option to change
    (``src.model.weights.load_weights``).
    """
    from src.model import build_model
    from src.model.weights import checkpoint_meta, load_weights

    net = build_model(cfg)
    path = ckpt_path or cfg.ckpt_path
    load_weights(net, path, strict=True, expected=checkpoint_meta(cfg, net.architecture))
    net.set_train(False)
    return net


def numpy_forward(net):
    """``forward(batch) -> logits`` over numpy arrays for a MindSpore network."""
    import mindspore as ms

    def forward(batch):
        return net(ms.Tensor(np.ascontiguousarray(batch, np.float32))).asnumpy()

    return forward
