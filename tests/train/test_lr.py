"""Learning-rate schedule (README, Retrain): geometric warmup then poly, per iteration."""
import math

import pytest

from src.config import load_config
from src.errors import UserError
from src.train.lr import lr_at, lr_schedule

BASE, START, WARMUP, TOTAL, POWER, MIN = 0.05, 5e-6, 1000, 11000, 0.9, 1e-4


def at(step):
    return lr_at(step, TOTAL, BASE, MIN, START, WARMUP, POWER)


def test_warmup_starts_and_ends_geometrically():
    assert at(0) == pytest.approx(START)
    assert at(WARMUP) == pytest.approx(BASE)
    # geometric: the midpoint of the warmup is the geometric mean of its ends
    assert at(WARMUP // 2) == pytest.approx(math.sqrt(START * BASE))
    assert at(1) / at(0) == pytest.approx(at(2) / at(1))


def test_poly_midpoint_and_end():
    assert at(WARMUP + (TOTAL - WARMUP) // 2) == pytest.approx(MIN + (BASE - MIN) * 0.5 ** POWER)
    assert at(TOTAL) == pytest.approx(MIN)
    assert MIN < at(TOTAL - 1) < at(TOTAL - 2)


def test_schedule_array_matches_config():
    cfg = load_config(None, {"base_lr": BASE, "min_lr": MIN, "warmup_start_lr": START, "warmup_iters": 10,
                             "lr_power": POWER})
    lrs = lr_schedule(cfg, 50)
    assert lrs.shape == (50,) and lrs.dtype.name == "float32"
    assert lrs[0] == pytest.approx(START) and lrs[10] == pytest.approx(BASE)
    assert all(lrs[i] > lrs[i + 1] for i in range(10, 49))


def test_schedule_without_warmup_and_bad_warmup():
    cfg = load_config(None, {"warmup_iters": 0, "base_lr": 0.1})
    assert lr_schedule(cfg, 4)[0] == pytest.approx(0.1)
    with pytest.raises(UserError, match="warmup_start_lr"):
        lr_schedule(cfg.replace(warmup_iters=5, warmup_start_lr=0.0), 10)
