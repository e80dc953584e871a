"""Dropout and its noise as a function of (seed, stream, training step): repeatable and resumable.

MindSpore 2.10's CPU random kernels (``nn.Dropout``, ``ops.rand``) draw other numbers run to run
with the same seed from their second call on (docs/cpu.md, Reproducibility), and their state is in
no checkpoint, so a resumed run would draw differently anyway. On CPU ``StepNoise`` runs
``src/kernels/uniform_noise.cc``: each value is a hash of (seed, stream, step, element), so the
masks of step s are the same in every run and after a resume. Elsewhere (GPU, Ascend, or without
the kernels) it is MindSpore's ``ops.rand_like``, seeded by ``mindspore.set_seed``.
"""
import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops

from src.kernels import cpu_kernel_library


class StepNoise(nn.Cell):
    """Uniform [0, 1) noise shaped like ``like``; ``stream`` tells apart the layers that draw it.

    The seed is MindSpore's global seed when the cell is built (``mindspore.set_seed``, which every
    stage calls with the config's ``seed`` before building the network), else 0."""

    def __init__(self, stream):
        super().__init__()
        library = cpu_kernel_library("uniform_noise")
        self.use_cpu_kernel = library is not None
        self.seed_and_stream = ms.Tensor([ms.get_seed() or 0, stream], ms.int64)
        if self.use_cpu_kernel:
            self.noise = ops.Custom(library + ":UniformNoise", out_shape=lambda like, key: like,
                                    out_dtype=lambda like, key: like, func_type="aot")

    def construct(self, like, step):
        like = ops.stop_gradient(like)
        if self.use_cpu_kernel:
            return self.noise(like, ops.concat((self.seed_and_stream, step.astype(ms.int64).reshape(1))))
        return ops.rand_like(like)


class Dropout(nn.Cell):
    """Inverted dropout (zero with probability ``p``, scale the rest by 1 / (1 - p)) in training;
    the identity in eval mode. ``step`` is the training step (``StepNoise``)."""

    def __init__(self, p, stream):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.keep = 1.0 - p
        self.noise = StepNoise(stream)

    def construct(self, x, step):
        if not self.training or self.keep == 1.0:
            return x
        mask = (self.noise(x, step) < self.keep).astype(x.dtype)
        return x * mask / self.keep
