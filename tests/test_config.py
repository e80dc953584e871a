"""Config schema: files load and inherit, the command line overrides them, every rule of the schema
rejects its bad values with a clear message, and each stage takes only the keys it reads."""
import glob
import os
import subprocess
import sys

import pytest

from src import config
from src.config import CONFIG_DIR, CROSS_KEY_RULES, SCHEMA, load_config, parse_config, read_yaml
from src.errors import UserError

S_CONFIG = os.path.join(CONFIG_DIR, "autodeeplab_s.yaml")
RETRAIN_FILES = ("autodeeplab_base.yaml", "autodeeplab_s.yaml", "autodeeplab_m.yaml", "autodeeplab_l.yaml",
                 "demo.yaml")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CONFIG_DIR, "*.yaml"))))
def test_every_shipped_config_validates(path):
    cfg = load_config(path)
    assert cfg.config_path == path
    assert set(cfg.to_dict()) == set(SCHEMA)


@pytest.mark.parametrize("name", RETRAIN_FILES)
@pytest.mark.parametrize("stage", config.PIPELINES["retrain"])
def test_retrain_files_give_no_warning_to_any_retrain_stage(name, stage, capsys):
    load_config(os.path.join(CONFIG_DIR, name), stage=stage)
    assert capsys.readouterr().err == ""


def test_sizes_inherit_one_base_and_differ_only_in_filter_multiplier():
    """F = 20 / 32 / 48 for S / M / L (paper section 5.1 / Table 2)."""
    base = read_yaml(os.path.join(CONFIG_DIR, "autodeeplab_base.yaml"))
    for size, f in (("s", 20), ("m", 32), ("l", 48)):
        path = os.path.join(CONFIG_DIR, "autodeeplab_%s.yaml" % size)
        own = config._read_yaml_file(path)
        assert own == {"base": "autodeeplab_base.yaml", "filter_multiplier": f}
        assert read_yaml(path) == {**base, "filter_multiplier": f}


def test_command_line_overrides_file_and_converts_types():
    cfg = parse_config(["--batch_size", "4", "--scales", "0.5,1.0,1.5", "--flip", "true",
                        "--aspp_rates", "[3, 6, 9]", "--base_lr", "1e-2"], S_CONFIG)
    assert cfg.batch_size == 4 and isinstance(cfg.batch_size, int)
    assert cfg.scales == [0.5, 1.0, 1.5]
    assert cfg.flip is True
    assert cfg.aspp_rates == [3, 6, 9]
    assert cfg.base_lr == pytest.approx(0.01)
    assert cfg.crop_size == 769  # from the base file
    assert cfg.filter_multiplier == 20  # from the S file


@pytest.mark.parametrize("value,expected", [("True", "true"), ("no", "false"), (True, "true"), (False, "false"),
                                            ("auto", "auto")])
def test_tri_state_key_takes_any_boolean_spelling(value, expected):
    """dataset_sink_mode is auto | true | false: the port's --dataset_sink_mode=True and YAML's bare
    true are its true."""
    assert config.validate({"dataset_sink_mode": value}, source="test")["dataset_sink_mode"] == expected


# One bad value per rule of every key: (key, value as typed on the command line, message part).
BAD_VALUES = [
    ("config_path", "", "an empty path"),
    ("device_target", "TPU", "must be one of auto, Ascend, GPU, CPU"),
    ("device_id", "-1", "must be >= 0"),
    ("mode", "fast", "must be one of graph, pynative"),
    ("path_decode", "viterbi", "must be one of rescaled, paper"),
    ("affine", "maybe", "expected true or false"),
    ("seed", "-1", "must be >= 0"),
    ("distribute", "maybe", "expected true or false"),
    ("deterministic", "maybe", "expected true or false"),
    ("enable_modelarts", "2", "expected true or false"),
    ("data_url", "", "an empty path"),
    ("train_url", " ", "an empty path"),
    ("data_path", "", "an empty path"),
    ("output_path", "", "an empty path"),
    ("arch_path", "", "an empty path"),
    ("variant", "tf", "must be one of paper, modelzoo"),
    ("num_classes", "1", "must be >= 2"),
    ("ignore_label", "256", "must be <= 255"),
    ("ignore_label", "-1", "must be >= 0"),
    ("filter_multiplier", "0", "must be >= 1"),
    ("block_multiplier", "0", "must be >= 1"),
    ("num_layers", "0", "must be >= 1"),
    ("stem_channels", "0", "must be >= 1"),
    ("decoder_channels", "0", "must be >= 1"),
    ("aspp_rates", "6,12", "must list 3 values"),
    ("aspp_rates", "0,6,12", "must be >= 1"),
    ("bn_momentum", "0", "must be > 0.0"),
    ("bn_momentum", "1.5", "must be <= 1.0"),
    ("bn_eps", "0", "must be > 0.0"),
    ("drop_path_keep_prob", "0", "must be > 0.0"),
    ("drop_path_keep_prob", "1.1", "must be <= 1.0"),
    ("crop_size", "0", "must be >= 1"),
    ("crop_size", "7.5", "expected a whole number"),
    ("crop_size", "inf", "expected a finite number"),
    ("min_scale", "0", "must be > 0.0"),
    ("max_scale", "-1", "must be > 0.0"),
    ("channel_order", "rgba", "must be one of rgb, bgr"),
    ("num_parallel_workers", "0", "must be >= 1"),
    ("batch_size", "0", "must be >= 1"),
    ("epochs", "0", "must be >= 1"),
    ("base_lr", "-0.1", "must be >= 0.0"),
    ("base_lr", "nan", "expected a finite number"),
    ("min_lr", "-1", "must be >= 0.0"),
    ("warmup_start_lr", "-1", "must be >= 0.0"),
    ("warmup_iters", "-1", "must be >= 0"),
    ("lr_power", "-1", "must be >= 0.0"),
    ("momentum", "-0.1", "must be >= 0.0"),
    ("momentum", "1.5", "must be <= 1.0"),
    ("weight_decay", "-1", "must be >= 0.0"),
    ("criterion", "mse", "must be one of ohemce, ce"),
    ("ohem_thresh", "0", "must be > 0.0"),
    ("ohem_thresh", "1.5", "must be <= 1.0"),
    ("amp_level", "O4", "must be one of O0, O1, O2, O3"),
    ("loss_scale", "static", "must be one of auto, none, fixed, dynamic"),
    ("loss_scale_value", "0.5", "must be >= 1.0"),
    ("loss_scale_value", "inf", "expected a finite number"),
    ("save_checkpoint_steps", "-1", "must be >= 0"),
    ("dataset_sink_mode", "sometimes", "must be one of auto, true, false"),
    ("keep_checkpoint_max", "0", "must be >= 1"),
    ("resume", "", "an empty path"),
    ("checkpoint_url", "", "an empty path"),
    ("pretrained_ckpt", "", "an empty path"),
    ("overwrite", "maybe", "expected true or false"),
    ("log_interval", "0", "must be >= 1"),
    ("bn_recalibration_images", "-1", "must be >= 0"),
    ("bn_recalibration_batch", "1", "must be >= 2"),
    ("log_samples", "sometimes", "expected true or false"),
    ("ckpt_path", "", "an empty path"),
    ("flip", "maybe", "expected true or false"),
    ("scales", "-1", "must be > 0.0"),
    ("scales", "0", "must be > 0.0"),
    ("scales", "1.0,inf", "expected a finite number"),
    ("scales", "", "expected a non-empty list"),
    ("sliding_window", "yes please", "expected true or false"),
    ("file_format", "PB", "must be one of MINDIR, ONNX, AIR"),
    ("height", "0", "must be >= 1"),
    ("width", "0", "must be >= 1"),
    ("output", "logits", "must be one of argmax, softmax"),
    ("arch_start_epoch", "-1", "must be >= 0"),
    ("arch_lr", "-1", "must be >= 0.0"),
    ("arch_weight_decay", "-1", "must be >= 0.0"),
    ("search_scale", "0", "must be > 0.0"),
    ("arch_betas", "0.9", "must list 2 values"),
    ("arch_betas", "0.9,1.0", "must be < 1.0"),
    ("arch_betas", "-0.1,0.9", "must be >= 0.0"),
    ("memory_mode", "all", "must be one of none, recompute, partial_channel"),
    ("partial_channel_k", "0", "must be >= 1"),
    ("move_mixing", "mean", "must be one of paper, path"),
    ("path_search", "evolution", "must be one of relaxed, single_path"),
    ("scored_paths", "0", "must be >= 1"),
    ("aux_skip_weight", "-0.5", "must be >= 0"),
    ("alpha_logsumexp_weight", "-1", "must be >= 0"),
    ("eval_interval", "-1", "must be >= 0"),
    ("dataset", "coco", "must be one of cityscapes, voc, ade20k, custom"),
    ("classes_path", "", "an empty path is not a folder or file"),
]


@pytest.mark.parametrize("name,value,message", BAD_VALUES)
def test_bad_value_is_refused_with_the_rule(name, value, message):
    with pytest.raises(UserError) as info:
        config.validate({name: value}, source="test")
    assert str(info.value).startswith("invalid configuration: %s: " % name) and message in str(info.value)


def test_every_per_key_rule_has_a_bad_value_in_the_table():
    """Each declared constraint (choices, bounds, length, a path, a bool) is exercised above."""
    rules = set()
    for name, key in SCHEMA.items():
        rules.update((name, rule) for rule, present in (
            ("choices", key.choices), ("minimum", key.minimum is not None),
            ("maximum", key.maximum is not None), ("length", key.length), ("path", key.kind == "path"),
            ("bool", key.kind == "bool")) if present)
    covered = set()
    for name, _, message in BAD_VALUES:
        rule = ("choices" if message.startswith("must be one of") else "minimum" if message.startswith("must be >")
                else "maximum" if message.startswith("must be <") else "length" if "must list" in message
                else "path" if "empty path" in message else "bool" if "true or false" in message else None)
        covered.add((name, rule))
    assert rules - covered == set()


# Each declared cross-key rule: (rule name, values breaking it, message part).
BAD_COMBINATIONS = [
    ("scale_range", {"min_scale": 2.0, "max_scale": 1.0}, "min_scale (2.0) must not exceed max_scale (1.0)"),
    ("warmup_below_peak", {"warmup_iters": 10, "warmup_start_lr": 0.1, "base_lr": 0.05},
     "warmup_start_lr (0.1) must not exceed base_lr (0.05)"),
    ("affine_needs_modelzoo", {"affine": False}, "affine false (the ModelZoo port's frozen BatchNorm scale/shift) "
     "needs --variant modelzoo"),
    ("sliding_window_crop", {"sliding_window": True, "crop_size": 31},
     "sliding_window needs crop_size >= 32 (the network's coarsest output stride), got 31"),
]


@pytest.mark.parametrize("rule,values,message", BAD_COMBINATIONS)
def test_cross_key_rule_refuses_its_combination(rule, values, message):
    with pytest.raises(UserError) as info:
        load_config(S_CONFIG, values)
    assert message in str(info.value)


def test_every_cross_key_rule_is_in_the_table_and_the_edges_pass():
    assert [rule.name for rule in CROSS_KEY_RULES] == [row[0] for row in BAD_COMBINATIONS]
    load_config(S_CONFIG, {"min_scale": 1.0, "max_scale": 1.0, "warmup_iters": 0, "warmup_start_lr": 1.0,
                           "sliding_window": True, "crop_size": 32})


def test_sliding_window_minimum_is_the_stride_of_the_deepest_level():
    """Levels 0..NUM_LEVELS-1 have output stride 4 * 2**level (README, Architecture file)."""
    from src.architecture import NUM_LEVELS

    assert config.MAX_OUTPUT_STRIDE == 4 * 2 ** (NUM_LEVELS - 1) == 32


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(UserError) as info:
        parse_config(["--batch_size", "0", "--mode", "fast", "--flip", "maybe", "--crop_size", "7.5"], S_CONFIG)
    message = str(info.value)
    assert "batch_size: 0 must be >= 1" in message
    assert "mode: 'fast' must be one of graph, pynative" in message
    assert "flip: 'maybe' is not valid: expected true or false" in message
    assert "crop_size: '7.5' is not valid: expected a whole number" in message


def test_unknown_key_in_file_names_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("batch_size: 2\nbatchsize: 4\n")
    with pytest.raises(UserError, match="unknown key 'batchsize'"):
        load_config(str(path))


def test_inheritance_chain_is_relative_to_each_file_and_the_child_wins(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "root.yaml").write_text("batch_size: 3\nepochs: 7\nscales: [1.0, 2.0]\n")
    (tmp_path / "sub" / "middle.yaml").write_text("base: ../root.yaml\nepochs: 8\n")
    (tmp_path / "leaf.yaml").write_text("base: sub/middle.yaml\nscales: [0.5]\n")
    cfg = load_config(str(tmp_path / "leaf.yaml"))
    assert (cfg.batch_size, cfg.epochs, cfg.scales) == (3, 8, [0.5])  # lists are replaced, not merged


def test_inheritance_errors_name_the_file(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(UserError, match="inherits from it again"):
        load_config(str(tmp_path / "a.yaml"))
    (tmp_path / "c.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(UserError, match=r"c.yaml: base file .*missing.yaml does not exist"):
        load_config(str(tmp_path / "c.yaml"))
    (tmp_path / "d.yaml").write_text("base: [a.yaml, b.yaml]\n")
    with pytest.raises(UserError, match="'base' must name one YAML file"):
        load_config(str(tmp_path / "d.yaml"))


def one_line_error(path):
    with pytest.raises(UserError) as info:
        load_config(str(path))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_file_errors_are_one_line(tmp_path):
    assert "does not exist" in one_line_error(tmp_path / "nope.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("batch_size: [1,\n")
    assert "is not valid YAML at line" in one_line_error(bad)
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("# réglages\nbatch_size: 2\n".encode("latin-1"))
    assert "is not UTF-8 text (byte 0xe9 at offset 3); pass a text file saved as UTF-8" in one_line_error(latin1)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(bytes(range(256)))
    assert "binary.yaml' is not" in one_line_error(binary)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    assert "must hold a mapping" in one_line_error(listing)


def test_utf8_file_with_non_ascii_text_loads(tmp_path):
    path = tmp_path / "utf8.yaml"
    path.write_bytes("# réglages für die Stadt\nbatch_size: 3\n".encode("utf-8"))
    assert load_config(str(path)).batch_size == 3


def test_replace_validates():
    cfg = load_config(S_CONFIG)
    assert cfg.replace(batch_size=8).batch_size == 8
    with pytest.raises(UserError):
        cfg.replace(ohem_thresh=1.5)


def stage_help(stage, capsys):
    with pytest.raises(SystemExit):
        parse_config(["--help"], S_CONFIG, stage=stage)
    return {word[2:] for word in capsys.readouterr().out.split() if word.startswith("--")} - {"help", "KEY"}


def test_help_lists_only_the_keys_of_the_stage(capsys):
    assert stage_help("postprocess", capsys) == {"config_path", "data_path", "output_path", "num_classes",
                                                 "ignore_label"}
    preprocess = stage_help("preprocess", capsys)
    assert preprocess == {"config_path", "data_path", "output_path", "channel_order", "height", "width"}
    evaluation = stage_help("eval", capsys)
    assert {"ckpt_path", "flip", "scales", "sliding_window", "crop_size", "filter_multiplier"} <= evaluation
    assert not {"epochs", "base_lr", "file_format", "arch_lr", "drop_path_keep_prob"} & evaluation
    search = stage_help("search", capsys)
    assert {"arch_lr", "num_layers", "block_multiplier", "epochs"} <= search
    assert not {"warmup_iters", "ohem_thresh", "flip", "variant"} & search
    for stage in config.STAGES:
        assert stage_help(stage, capsys) == {name for name, key in SCHEMA.items() if stage in key.stages}


def test_help_gives_the_stage_meaning_of_a_shared_key(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--help"], S_CONFIG, stage="eval")
    assert "window of sliding_window" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parse_config(["--help"], S_CONFIG, stage="train")
    assert "training crop" in capsys.readouterr().out


def test_command_line_key_of_another_stage_is_an_error():
    with pytest.raises(UserError) as info:
        parse_config(["--epochs", "3", "--flip", "true"], S_CONFIG, stage="eval")
    assert str(info.value) == "--epochs is not read by eval (read by: search, train): remove the option"
    with pytest.raises(UserError, match="warmup_iters is not read by search"):
        load_config(S_CONFIG, {"warmup_iters": 2}, stage="search")


def test_file_key_no_stage_of_the_pipeline_reads_is_a_warning(tmp_path, capsys):
    path = tmp_path / "search.yaml"
    path.write_text("epochs: 3\nwarmup_iters: 5\nohem_thresh: 0.5\n")
    assert load_config(str(path), stage="search").epochs == 3
    assert capsys.readouterr().err == ("warning: %s sets warmup_iters, ohem_thresh, which search does not read; "
                                       "it has no effect\n" % path)
    load_config(str(path), stage="eval")  # eval ignores them, train (same pipeline) reads them: quiet
    assert capsys.readouterr().err == ""


def test_abbreviated_option_is_not_taken_for_another_key():
    with pytest.raises(UserError, match="--output is not read by predict"):  # not taken as --output_path
        parse_config(["--output", "x"], S_CONFIG, stage="predict")
    with pytest.raises(SystemExit):
        parse_config(["--output_pa", "x"], S_CONFIG, stage="predict")


def test_unknown_command_line_option_is_one_clear_line():
    code = "import src; from src.config import parse_config; parse_config(['--bach_size', '2'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unrecognized arguments: --bach_size 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_shows_the_values_in_force_without_config_path(tmp_path, capsys):
    path = tmp_path / "default.yaml"
    path.write_text("epochs: 7\n")
    with pytest.raises(SystemExit):
        parse_config(["--help"], str(path), stage="search")
    text = " ".join(capsys.readouterr().out.split())
    assert "search epochs (default: 7)" in text and "default.yaml)" in text
    assert "Adam learning rate of alpha/beta (default: 0.003)" in text  # not in the file: the schema's
