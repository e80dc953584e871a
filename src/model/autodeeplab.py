"""The retrain network: stem + cells along the path, ASPP, DeepLabv3+ decoder."""
import mindspore as ms
import mindspore.nn as nn
from mindspore import Parameter, Tensor

from src.architecture import Architecture, load_architecture
from src.errors import UserError
from src.layers.norm import norm_settings
from src.layers.operations import check_variant
from src.layers.resize import BilinearResize
from src.model.aspp import ASPP
from src.model.decoder import Decoder
from src.model.encoder import Encoder


class AutoDeepLab(nn.Cell):
    """Auto-DeepLab for semantic segmentation: (N, 3, H, W) images -> (N, classes, H, W) logits.

    ``variant`` 'paper' follows the paper / official TF network; 'modelzoo' reproduces the
    MindSpore ModelZoo port (see ``src.model.checkpoint_compat`` to load its checkpoints).
    The number of cells (len of the network path) and of blocks per cell (``num_blocks``) come
    from ``architecture``, so any valid architecture file builds.
    ``norm``: the BatchNormSettings of every BN. Every setting is a config key (``src.config``,
    which holds the defaults): ``build_model`` builds the network of a config.
    Scheduled drop path and dropout read the non-trainable Parameters ``drop_path_progress`` and
    ``training_step`` (their random draws are a function of the step: ``src.layers.dropout``); the
    training loop sets both with ``set_training_step(step, total_steps)``.
    """

    def __init__(self, architecture, *, num_classes, filter_multiplier, variant, aspp_rates,
                 stem_channels, decoder_channels, norm, drop_path_keep_prob):
        super().__init__()
        if not isinstance(architecture, Architecture):
            raise TypeError("architecture must be a src.architecture.Architecture")
        check_variant(variant)
        self.architecture = architecture
        self.variant = variant
        self.encoder = Encoder(architecture, filter_multiplier, variant, stem_channels,
                               drop_path_keep_prob, norm)
        # paper: a ReLU on the last cell's output before ASPP, as TF's nas_network does (the
        # cell output is a concat of BN outputs); the ModelZoo port feeds it to ASPP as it is.
        self.relu_before_aspp = nn.ReLU() if variant == "paper" else None
        self.aspp = ASPP(self.encoder.out_channels, tuple(aspp_rates), decoder_channels,
                         "leaky_relu" if variant == "modelzoo" else "relu", norm, variant)
        self.decoder = Decoder(num_classes, self.encoder.low_level_channels, decoder_channels,
                               norm, variant)
        self.resize = BilinearResize()
        self.drop_path_progress = Parameter(Tensor(0.0, ms.float32), name="drop_path_progress",
                                            requires_grad=False)
        self.training_step = Parameter(Tensor(0, ms.int32), name="training_step", requires_grad=False)

    def set_training_step(self, step, total_steps):
        """The step about to run, and the progress of scheduled drop path: min(step / total_steps, 1)."""
        self.training_step.set_data(Tensor(int(step), ms.int32))
        self.drop_path_progress.set_data(
            Tensor(min(float(step) / max(float(total_steps), 1.0), 1.0), ms.float32))

    def construct(self, x):
        high_level, low_level = self.encoder(x, self.drop_path_progress, self.training_step)
        if self.relu_before_aspp is not None:
            high_level = self.relu_before_aspp(high_level)
        logits = self.decoder(self.aspp(high_level), low_level, self.training_step)
        return self.resize(logits, (x.shape[2], x.shape[3]))


def _architecture_of(arch_path):
    """The architecture of ``arch_path``: an architecture file, or the one a train.py checkpoint
    records (so a checkpoint alone names its network; ``src.model.loading``)."""
    if arch_path is None or not str(arch_path).endswith(".ckpt"):
        return load_architecture(arch_path)
    from src.checkpoint import read_checkpoint

    stored = read_checkpoint(arch_path, "--arch_path").meta.get("architecture")
    if stored is None:
        raise UserError("--arch_path %s records no architecture (not written by train.py); pass the "
                        "architecture.json it was trained with" % arch_path)
    return Architecture.from_dict(stored, source=arch_path)


def build_model(cfg, use_sync_bn=False, architecture=None):
    """AutoDeepLab from a config with the model keys of ``src.config``: ``architecture`` (an
    Architecture), else ``arch_path``, a file or a checkpoint (None = the paper's architecture). Cells and blocks
    per cell come from the architecture, not from ``num_layers`` / ``block_multiplier`` (those
    shape the search supernet only)."""
    net = AutoDeepLab(architecture or _architecture_of(cfg.arch_path),
                       num_classes=cfg.num_classes,
                       filter_multiplier=cfg.filter_multiplier,
                       variant=cfg.variant,
                       aspp_rates=tuple(cfg.aspp_rates),
                       stem_channels=cfg.stem_channels,
                       decoder_channels=cfg.decoder_channels,
                       norm=norm_settings(cfg, use_sync_bn),
                       drop_path_keep_prob=cfg.drop_path_keep_prob)
    if not cfg.affine:
        freeze_op_batch_norms(net)
    return net


def freeze_op_batch_norms(net):
    """Freeze the BatchNorm scale/shift inside the cells' ops (sep/dil convs), as the ModelZoo port's
    ``affine=False`` builds them (MindSpore's BatchNorm2d(affine=False): same parameters, not
    trainable), so its checkpoints still load; returns the number of values frozen."""
    frozen = 0
    for cell in net.encoder.layers:
        for edge in cell.edges:
            for param in edge.op.get_parameters():
                if param.name.endswith((".gamma", ".beta")):
                    param.requires_grad = False
                    frozen += param.size
    return frozen
