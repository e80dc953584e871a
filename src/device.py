"""Device set-up: the one place that knows about CPU/GPU/Ascend and launcher differences."""
import os

# oneDNN in MindSpore 2.10 picks a reference convolution (~300x slower) on AVX-512/AMX CPUs;
# capping the ISA at AVX2 makes it use the gemm:jit kernels. It must be set before the first
# `import mindspore`, and it has no effect on GPU/Ascend kernels, so it is applied always.
CPU_ISA_VAR = "ONEDNN_MAX_CPU_ISA"
CPU_ISA_CAP = "AVX2"


# MindSpore's C++ and Python log level (0 debug .. 3 error); its default, 2, prints warnings that
# are about MindSpore's internals (e.g. 30 multi-line "IbTryExpandCNode ... abstract does not
# match" during the demo's search). Read when mindspore is imported.
LOG_LEVEL_VAR = "GLOG_v"
QUIET_LOG_LEVEL = "3"


def quiet_mindspore_logs():
    """Show only MindSpore's errors unless the user set GLOG_v (GLOG_v=2 brings its warnings back);
    returns the level in force. The project's own lines are not MindSpore's log, so they stay."""
    return os.environ.setdefault(LOG_LEVEL_VAR, QUIET_LOG_LEVEL)


def apply_cpu_isa_cap():
    """Set ONEDNN_MAX_CPU_ISA=AVX2 unless the user chose a value; returns the value in force."""
    return os.environ.setdefault(CPU_ISA_VAR, CPU_ISA_CAP)


AUTO = "auto"
PREFERENCE = ("Ascend", "GPU")  # what ``auto`` picks when usable, in this order; else CPU


def backend_usable(target):
    """Whether this MindSpore install can run on ``target`` (its plugin for it loaded at import).

    The same check as ``mindspore.device_context.<target>.is_available()``, without the two
    warnings that function prints for every backend that is missing.
    """
    try:
        from mindspore._c_expression import MSContext
        return bool(MSContext.get_instance().is_pkg_support_device(target))
    except (ImportError, AttributeError):  # a MindSpore without the private call: the public one
        import mindspore as ms
        return bool(getattr(ms.device_context, target.lower()).is_available())


def choose_device(requested):
    """(backend, reason): ``requested`` itself, or for ``auto`` Ascend, else GPU, else CPU."""
    if requested != AUTO:
        return requested, "device_target %s" % requested
    for target in PREFERENCE:
        if backend_usable(target):
            return target, "device_target auto: this MindSpore can use %s" % target
    return "CPU", "device_target auto: this MindSpore install has no usable Ascend or GPU backend"


def device_of(cfg):
    """The backend a run of ``cfg`` uses (``auto`` resolved): what CPU/GPU/Ascend choices key on."""
    return choose_device(cfg.device_target)[0]


def init_device(cfg):
    """Select backend and mode, print which backend (the stage's first line); start the collective
    group when distributed.

    Returns (rank_id, rank_size). ``communication.init()`` raises without a launcher (msrun or a
    rank table), so it is only called for ``distribute: true`` runs.
    """
    import mindspore as ms

    from src.errors import UserError

    target, reason = choose_device(cfg.device_target)
    print("device: %s (%s)" % (target, reason), flush=True)
    try:
        ms.set_device(target, _device_id(cfg))
    except RuntimeError as exc:
        raise UserError("device_target %s is not available in this MindSpore install (%s); pass --device_target "
                        "with a backend it supports, or install the MindSpore package for %s"
                        % (target, _first_line(exc), target)) from None
    ms.set_context(mode=ms.GRAPH_MODE if cfg.mode == "graph" else ms.PYNATIVE_MODE)
    ms.set_seed(cfg.seed)
    if cfg.deterministic:
        ms.set_deterministic(True)
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
    return cfg.distribute and device_of(cfg) == "Ascend"
