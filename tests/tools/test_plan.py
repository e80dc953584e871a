"""The memory/time planner: its feature counts against hand counts, the modes' order, the CLI."""
import subprocess
import sys

import pytest

from src.config import CONFIG_DIR, SEARCH, TRAIN, load_config
from src.tools import plan


def _search_cfg(**keys):
    base = dict(num_layers=1, filter_multiplier=4, block_multiplier=1, stem_channels=2,
                crop_size=33, batch_size=2, num_classes=3)
    return load_config(None, {**base, **keys})


def test_feature_counts_of_one_layer_by_hand():
    # crop 33 -> stem 17 -> 9 (level 0), then 5 (level 1); layer 0 has nodes (0, 0) and (0, 1),
    # one move each from the stem; B 1 -> 2 edges; states per run: prev, prev-prev, 1 block.
    counts = plan.search_feature_counts(_search_cfg())
    level0, level1 = 2 * 9 * 9, 2 * 5 * 5  # batch x pixels
    assert counts["mixed"] == 2 * 4 * level0 + 2 * 8 * level1
    assert counts["state"] == 3 * 2 * 2 * 17 * 17 + 3 * 4 * level0 + 3 * 8 * level1
    assert counts["edge_shapes"] == {(0, 1), (1, 1)}
    # Per node: its inputs, 2 states feeding edges (prev-prev, prev), 2 edges, its output.
    assert counts["calls"] == 2 * (1 + 2 + 2 + 1)


def test_partial_channel_sends_a_kth_of_the_channels_through_the_mixed_ops():
    full = plan.search_feature_counts(_search_cfg(filter_multiplier=8))
    quarter = plan.search_feature_counts(_search_cfg(filter_multiplier=8, memory_mode="partial_channel",
                                                     partial_channel_k=4))
    assert quarter["mixed"] * 4 == full["mixed"] and quarter["state"] == full["state"]


def test_twelve_layers_have_ten_edge_shapes():
    # (level, moves): level 0 with 1 or 2 moves, levels 1 and 2 with 1, 2 or 3, level 3 with 1 or 2.
    counts = plan.search_feature_counts(_search_cfg(num_layers=12))
    assert counts["edge_shapes"] == {(0, 1), (0, 2), (1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3),
                                     (3, 1), (3, 2)}


def test_recompute_and_partial_channel_need_less_activation_memory_than_none_at_paper_size():
    cfg = load_config(f"{CONFIG_DIR}/search.yaml")  # 12 layers, F 8, B 5, crop 321, batch 2
    none, _ = plan.search_estimate(cfg, "none")
    recompute, _ = plan.search_estimate(cfg, "recompute")
    partial, _ = plan.search_estimate(cfg, "partial_channel", 4)
    assert recompute["activations"] < none["activations"]
    assert partial["activations"] < none["activations"]
    assert partial["parameters"] < none["parameters"] == recompute["parameters"]


def test_each_compiled_edge_shape_adds_the_same_graph_memory():
    # Edge shapes by hand: 1 layer 2 (test above), 12 layers 10 (test above); 2 layers: level 0
    # with 1 and 2 moves, level 1 with 1 and 2, level 2 with 1 -> 5. The graph term must grow by
    # the same amount per shape, whatever the constants' values (benchmarks/plan_accuracy.py
    # measures those).
    graphs = {layers: plan.search_estimate(_search_cfg(num_layers=layers), "none")[0]["graphs and pools"]
              for layers in (1, 2, 12)}
    assert len(plan.search_feature_counts(_search_cfg(num_layers=2))["edge_shapes"]) == 5
    assert graphs[2] > graphs[1]
    assert (graphs[12] - graphs[1]) / (graphs[2] - graphs[1]) == pytest.approx((10 - 2) / (5 - 2))


def test_the_stage_comes_from_the_config_file():
    assert plan.config_stage(f"{CONFIG_DIR}/search.yaml") == SEARCH
    assert plan.config_stage(f"{CONFIG_DIR}/demo_search.yaml") == SEARCH
    assert plan.config_stage(f"{CONFIG_DIR}/autodeeplab_s.yaml") == TRAIN


def test_a_tight_budget_picks_a_memory_mode_and_an_impossible_one_says_so(capsys):
    cfg = load_config(f"{CONFIG_DIR}/search.yaml")
    none_total = sum(plan.search_estimate(cfg, "none")[0].values())
    found = plan.fitting_settings(cfg, SEARCH, none_total - 1.0)
    assert found and found[0][0]["memory_mode"] != "none" and found[0][1] <= none_total - 1.0
    plan.main(["--config_path", f"{CONFIG_DIR}/search.yaml", "--memory_gb", "0.1"])
    assert "nothing fits in 0.1 GB" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [(["--memory_gb", "-1"], "--memory_gb -1.0 must be positive"),
                                           (["--memory_mode", "fast"], "memory_mode")])
def test_bad_options_are_one_line_and_exit_2(args, message):
    result = subprocess.run([sys.executable, "-m", "src.tools.plan", "--config_path",
                             f"{CONFIG_DIR}/search.yaml"] + args, capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_training_estimate_grows_with_crop_and_batch():
    cfg = load_config(f"{CONFIG_DIR}/demo.yaml")
    small, _ = plan.train_estimate(cfg, crop=129, batch=2)
    large, _ = plan.train_estimate(cfg, crop=257, batch=4)
    # Feature maps scale with pixels x batch: 8x the images' pixels -> about 8x the activations.
    assert large["activations"] == pytest.approx(small["activations"] * 2 * (257 / 129) ** 2, rel=1e-6)
    assert large["parameters"] == small["parameters"]
