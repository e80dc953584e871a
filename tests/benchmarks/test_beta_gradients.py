"""benchmarks/beta_gradients.py: bad input named. (What it measures, the stem move's missing gradient
under paper mixing, is tests/nas/test_supernet.py's; the suite has no time for a second run.)"""
import re

import pytest

from benchmarks.beta_gradients import main
from src.errors import UserError


@pytest.mark.parametrize("argv, message", [
    (["--ckpt_path", "missing.ckpt"], "--ckpt_path missing.ckpt: no such file"),
    (["--ckpt_path", "init", "--batch_size"], "give them as --key value pairs"),
    (["--ckpt_path", "init", "--batches", "1"], "--batches 1: the spread needs at least 2"),
])
def test_bad_input_is_named(argv, message):
    with pytest.raises(UserError, match=re.escape(message)):
        main(argv + ["--data_path", "nowhere"])
