"""Device set-up: the one place that knows about CPU/GPU/Ascend and launcher differences."""
import os

# oneDNN in MindSpore 2.10 picks a reference convolution (~300x slower) on AVX-512/AMX CPUs;
# capping the ISA at AVX2 makes it use the gemm:jit kernels. It must be set before the first
# `import mindspore`, and it has no effect on GPU/Ascend kernels, so it is applied always.
CPU_ISA_VAR = "ONEDNN_MAX_CPU_ISA"
CPU_ISA_CAP = "AVX2"


def apply_cpu_isa_cap():
    """Set ONEDNN_MAX_CPU_ISA=AVX2 unless the user chose a value; returns the value in force."""
    return os.environ.setdefault(CPU_ISA_VAR, CPU_ISA_CAP)


def init_device(cfg):
    """Select backend and mode; start the collective group when distributed.

    Returns (rank_id, rank_size). ``communication.init()`` raises without a launcher (msrun or a
    rank table), so it is only called for ``distribute: true`` runs.
    """
    import mindspore as ms

    from src.errors import UserError

    try:
        ms.set_device(cfg.device_target, _device_id(cfg))
    except RuntimeError as exc:
        raise UserError("device_target %s is not available in this MindSpore install (%s); pass --device_target "
                        "with a backend it supports, or install the MindSpore package for %s"
                        % (cfg.device_target, _first_line(exc), cfg.device_target)) from None
    ms.set_context(mode=ms.GRAPH_MODE if cfg.mode == "graph" else ms.PYNATIVE_MODE)
    ms.set_seed(cfg.seed)
    if not cfg.distribute:
        return 0, 1
    from mindspore.communication import get_group_size, get_rank, init
    from mindspore import ParallelMode

    try:
        init()
    except RuntimeError as exc:
        raise UserError("distribute is true but no launcher started this process (%s); start it with "
                        "scripts/run_distribute_train_msrun.sh or scripts/run_distribute_train.sh"
                        % _first_line(exc)) from None
    rank_size = get_group_size()
    ms.reset_auto_parallel_context()
    ms.set_auto_parallel_context(parallel_mode=ParallelMode.DATA_PARALLEL, gradients_mean=True,
                                 device_num=rank_size)
    return get_rank(), rank_size


def _first_line(exc):
    """MindSpore's errors append a C++ call stack; the first line says what is wrong."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _device_id(cfg):
    """Rank-table launches (Ascend) name each process's device in DEVICE_ID; msrun assigns it itself."""
    if not cfg.distribute:
        return cfg.device_id
    device_id = os.environ.get("DEVICE_ID")
    return int(device_id) if device_id is not None else None


def use_sync_bn(cfg):
    """SyncBatchNorm exists only on Ascend; elsewhere each device normalises its own batch."""
    return cfg.distribute and cfg.device_target == "Ascend"
