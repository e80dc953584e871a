"""benchmarks/search_quality.py: a run's folder holds one protocol's results."""
import json
import os

import pytest

from benchmarks.search_quality import check_protocol

OPTIONS = {"data": "960 48 256 512", "train_epochs": 3, "retrain": "--base_lr 0.02"}


def test_first_run_records_its_protocol(tmp_path):
    check_protocol(str(tmp_path), OPTIONS)
    with open(tmp_path / "protocol.json") as handle:
        assert json.load(handle) == OPTIONS


def test_resume_with_the_same_options_goes_on(tmp_path):
    check_protocol(str(tmp_path), OPTIONS)
    check_protocol(str(tmp_path), dict(OPTIONS))


def test_other_retrain_options_stop_before_mixing_results(tmp_path):
    check_protocol(str(tmp_path), OPTIONS)
    with pytest.raises(SystemExit) as stop:
        check_protocol(str(tmp_path), {**OPTIONS, "retrain": ""})
    message = str(stop.value)
    assert "--retrain ('--base_lr 0.02' there, '' now)" in message and "--output_path" in message
    assert "--data" not in message  # names only what differs
    with open(tmp_path / "protocol.json") as handle:
        assert json.load(handle) == OPTIONS  # the recorded protocol is left as it was
