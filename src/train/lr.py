"""Learning-rate schedules: geometric warmup then poly decay (retraining: README, Retrain) and
cosine annealing (the search's weights: docs/search.md, Method), one value per iteration.

The optimizer indexes a precomputed per-step array with its ``global_step`` (saved in every
checkpoint), so a resumed run continues the schedule exactly where it stopped.
"""
import math

import numpy as np

from src.errors import UserError


def lr_at(step, total_steps, base_lr, min_lr, warmup_start_lr, warmup_iters, power):
    """Learning rate of iteration ``step`` (0-based) of a ``total_steps`` run.

    Warmup: ``warmup_start_lr * (base_lr / warmup_start_lr) ** (step / warmup_iters)`` for
    ``step < warmup_iters`` (so step 0 is warmup_start_lr and step warmup_iters is base_lr).
    Poly: ``min_lr + (base_lr - min_lr) * (1 - t) ** power`` with
    ``t = (step - warmup_iters) / (total_steps - warmup_iters)``; it reaches min_lr at step
    ``total_steps``, one past the last iteration.
    """
    if step < warmup_iters:
        return warmup_start_lr * (base_lr / warmup_start_lr) ** (step / warmup_iters)
    decay_steps = max(total_steps - warmup_iters, 1)
    progress = min(max(step - warmup_iters, 0) / decay_steps, 1.0)
    return min_lr + (base_lr - min_lr) * (1.0 - progress) ** power


def lr_schedule(cfg, total_steps):
    """The per-iteration learning rates of a run (float32 array of length ``total_steps``)."""
    if cfg.warmup_iters and cfg.warmup_start_lr <= 0:
        raise UserError("geometric warmup needs warmup_start_lr > 0 (got %s); set it to e.g. 5e-6, "
                        "or --warmup_iters 0 to train without warmup" % cfg.warmup_start_lr)
    if cfg.min_lr > cfg.base_lr:
        raise UserError("min_lr (%s) must not exceed base_lr (%s)" % (cfg.min_lr, cfg.base_lr))
    return np.array([lr_at(step, total_steps, cfg.base_lr, cfg.min_lr, cfg.warmup_start_lr, cfg.warmup_iters,
                           cfg.lr_power) for step in range(total_steps)], dtype=np.float32)


def cosine_lr(step, total_steps, base_lr, min_lr):
    """Cosine annealing from ``base_lr`` (step 0) to ``min_lr`` (the last step, ``total_steps - 1``)."""
    progress = step / max(1, total_steps - 1)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def cosine_schedule(total_steps, base_lr, min_lr):
    """``cosine_lr`` of every iteration (float32 array of length ``total_steps``)."""
    return np.array([cosine_lr(step, total_steps, base_lr, min_lr) for step in range(total_steps)],
                    dtype=np.float32)
