"""Load checkpoints of the MindSpore ModelZoo port (research/cv/Auto-DeepLab) into the
``modelzoo`` variant of ``AutoDeepLab``.

The two networks have the same maths and parameter shapes but different parameter names.
Mapping, project name -> ModelZoo name (i = cell, j = genotype row, k = stem conv, X = one of
gamma/beta/moving_mean/moving_variance):

    encoder.stem.k.conv.weight                     encoder.stem{k}.0.weight
    encoder.stem.k.bn.X                            encoder.stem{k}.1.op.0.op.X
    encoder.layers.i.preprocess_prev_prev.conv.weight
                                                   encoder.NASCells.i.pre_preprocess.op.0.weight
    encoder.layers.i.preprocess_prev_prev.bn.X     encoder.NASCells.i.pre_preprocess.op.1.op.0.op.X
    encoder.layers.i.preprocess_prev.*             (same with 'preprocess')
    encoder.layers.i.edges.j.op.<rest>             encoder.NASCells.i.operations.j.0.op.<rest'>
        sep conv:  depthwise1.weight -> 1.weight,  pointwise1.weight -> 2.weight,
                   bn1.X -> 3.op.X,  depthwise2.weight -> 5.weight,  pointwise2.weight -> 6.weight,
                   bn2.X -> 7.op.X
        dil conv:  conv.weight -> 0.weight,  pointwise.weight -> 1.weight,  bn.X -> 2.op.0.op.X
    aspp.branches.b.conv.weight / .bn.X            aspp.aspp{b+1}.weight / aspp.aspp{b+1}_bn.op.0.op.X
    aspp.pool.conv.weight / .bn.X                  aspp.aspp5.weight / aspp.aspp5_bn.op.0.op.X
    aspp.project.conv.weight / .bn.X               aspp.conv2.weight / aspp.bn2.op.0.op.X
    decoder.reduce_low_level.conv.weight / .bn.X   decoder.conv1.weight / decoder.bn1.op.0.op.X
    decoder.fuse1.conv.weight / .bn.X              decoder.last_conv.0.weight / last_conv.1.op.0.op.X
    decoder.fuse2.conv.weight / .bn.X              decoder.last_conv.3.weight / last_conv.4.op.0.op.X
    decoder.classifier.weight                      decoder.last_conv.6.weight

``drop_path_progress`` has no ModelZoo counterpart (ModelZoo keeps a ``global_step`` per op);
ModelZoo entries with no project counterpart (optimizer moments, step counters) are ignored.
"""
import re

from mindspore import Parameter

from src.errors import UserError

_BN = r"(gamma|beta|moving_mean|moving_variance)"
_RULES = [
    (r"encoder\.stem\.(\d)\.conv\.weight", r"encoder.stem\1.0.weight"),
    (rf"encoder\.stem\.(\d)\.bn\.{_BN}", r"encoder.stem\1.1.op.0.op.\2"),
    (r"encoder\.layers\.(\d+)\.preprocess_prev_prev\.conv\.weight",
     r"encoder.NASCells.\1.pre_preprocess.op.0.weight"),
    (rf"encoder\.layers\.(\d+)\.preprocess_prev_prev\.bn\.{_BN}",
     r"encoder.NASCells.\1.pre_preprocess.op.1.op.0.op.\2"),
    (r"encoder\.layers\.(\d+)\.preprocess_prev\.conv\.weight",
     r"encoder.NASCells.\1.preprocess.op.0.weight"),
    (rf"encoder\.layers\.(\d+)\.preprocess_prev\.bn\.{_BN}",
     r"encoder.NASCells.\1.preprocess.op.1.op.0.op.\2"),
]
_EDGE = r"encoder\.layers\.(\d+)\.edges\.(\d+)\.op\."
_EDGE_TARGET = r"encoder.NASCells.\1.operations.\2.0.op."
_RULES += [(_EDGE + src, _EDGE_TARGET + dst) for src, dst in [
    (r"depthwise1\.weight", "1.weight"),
    (r"pointwise1\.weight", "2.weight"),
    (rf"bn1\.{_BN}", r"3.op.\3"),
    (r"depthwise2\.weight", "5.weight"),
    (r"pointwise2\.weight", "6.weight"),
    (rf"bn2\.{_BN}", r"7.op.\3"),
    (r"conv\.weight", "0.weight"),
    (r"pointwise\.weight", "1.weight"),
    (rf"bn\.{_BN}", r"2.op.0.op.\3"),
]]
_RULES += [
    (r"aspp\.branches\.(\d)\.conv\.weight",
     lambda m: f"aspp.aspp{int(m.group(1)) + 1}.weight"),
    (rf"aspp\.branches\.(\d)\.bn\.{_BN}",
     lambda m: f"aspp.aspp{int(m.group(1)) + 1}_bn.op.0.op.{m.group(2)}"),
    (r"aspp\.pool\.conv\.weight", "aspp.aspp5.weight"),
    (rf"aspp\.pool\.bn\.{_BN}", r"aspp.aspp5_bn.op.0.op.\1"),
    (r"aspp\.project\.conv\.weight", "aspp.conv2.weight"),
    (rf"aspp\.project\.bn\.{_BN}", r"aspp.bn2.op.0.op.\1"),
    (r"decoder\.reduce_low_level\.conv\.weight", "decoder.conv1.weight"),
    (rf"decoder\.reduce_low_level\.bn\.{_BN}", r"decoder.bn1.op.0.op.\1"),
    (r"decoder\.fuse1\.conv\.weight", "decoder.last_conv.0.weight"),
    (rf"decoder\.fuse1\.bn\.{_BN}", r"decoder.last_conv.1.op.0.op.\1"),
    (r"decoder\.fuse2\.conv\.weight", "decoder.last_conv.3.weight"),
    (rf"decoder\.fuse2\.bn\.{_BN}", r"decoder.last_conv.4.op.0.op.\1"),
    (r"decoder\.classifier\.weight", "decoder.last_conv.6.weight"),
]
_COMPILED = [(re.compile(pattern), target) for pattern, target in _RULES]
NO_COUNTERPART = ("drop_path_progress", "training_step")


def modelzoo_name(name):
    """The ModelZoo parameter name of project parameter ``name`` (None if it has none)."""
    for pattern, target in _COMPILED:
        match = pattern.fullmatch(name)
        if match:
            return target(match) if callable(target) else match.expand(target)
    return None


def convert_modelzoo_params(param_dict, net):
    """Rename a ModelZoo parameter dict for ``net`` (an AutoDeepLab with variant='modelzoo').

    Raises UserError when a parameter of ``net`` is missing or has another shape."""
    if getattr(net, "variant", None) != "modelzoo":
        raise UserError("ModelZoo checkpoints only fit the network built with variant: "
                        "modelzoo (set --variant modelzoo)")
    converted, missing, mismatched = {}, [], []
    for name, param in net.parameters_and_names():
        if name in NO_COUNTERPART:
            continue
        source = modelzoo_name(name)
        if source is None or source not in param_dict:
            missing.append(source or name)
            continue
        value = param_dict[source]
        if tuple(value.shape) != tuple(param.shape):
            mismatched.append(f"{source} {tuple(value.shape)} vs {tuple(param.shape)}")
            continue
        converted[name] = Parameter(value.value() if isinstance(value, Parameter) else value,
                                    name=name)
    if missing or mismatched:
        problems = [f"missing {n}" for n in missing[:5]] + [f"shape {m}" for m in mismatched[:5]]
        raise UserError(f"not a ModelZoo Auto-DeepLab checkpoint for this network "
                        f"({len(missing)} missing, {len(mismatched)} with another shape: "
                        f"{'; '.join(problems)}); check filter_multiplier, num_classes, "
                        "the architecture (net_arch/cell_arch) and aspp_rates")
    return converted

