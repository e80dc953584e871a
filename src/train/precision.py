"""Loss scaling per device target (docs/devices.md): DynamicLossScaleManager does not run on CPU."""
from mindspore.amp import DynamicLossScaleManager, FixedLossScaleManager

from src.device import device_of
from src.errors import UserError

DYNAMIC_SCALE_FACTOR = 2
DYNAMIC_SCALE_WINDOW = 1000


def loss_scale_manager(cfg):
    """The manager for ``cfg.loss_scale`` (auto: dynamic on GPU/Ascend, none on CPU), or None."""
    mode, on_cpu = cfg.loss_scale, device_of(cfg) == "CPU"
    if mode == "auto":
        mode = "none" if on_cpu else "dynamic"
    if mode == "dynamic":
        if on_cpu:
            raise UserError("loss_scale dynamic is not supported on CPU (MindSpore's DynamicLossScaleManager); "
                            "use --loss_scale fixed, none or auto")
        return DynamicLossScaleManager(cfg.loss_scale_value, DYNAMIC_SCALE_FACTOR, DYNAMIC_SCALE_WINDOW)
    if mode == "fixed":
        return FixedLossScaleManager(cfg.loss_scale_value, drop_overflow_update=False)
    return None
