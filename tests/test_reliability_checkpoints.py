"""Each consumer of the one checkpoint reader (its kinds and errors: tests/test_checkpoint_reader.py)
names what a wrong kind is and what to run; ModelZoo-port checkpoints (its parameter names) load
with --variant modelzoo in eval/export/predict (load_network), as initial weights and for --resume.
Tiny network (F=2), in-process."""
import json

import numpy as np
import pytest

import src  # noqa: F401  (CPU set-up before mindspore)
import mindspore as ms
from mindspore import nn

from src.config import load_config
from src.errors import UserError
from src.model import build_model
from src.model.checkpoint_compat import modelzoo_name
from src.model.loading import load_network
from src.model.weights import checkpoint_meta, load_weights
from src.train.checkpoint import resume_train_state

CONFIG = "config/autodeeplab_s.yaml"


def tiny_cfg(**overrides):
    return load_config(CONFIG, {"filter_multiplier": 2, "mode": "pynative", **overrides})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpts")
    cfg = tiny_cfg()
    net = build_model(cfg)
    retrain = str(folder / "retrain.ckpt")
    ms.save_checkpoint(net, retrain, append_dict=checkpoint_meta(cfg, net.architecture))
    search = str(folder / "search_epoch1.ckpt")
    ms.save_checkpoint([{"name": "alphas", "data": ms.Tensor(np.zeros((20, 8), np.float32))},
                        {"name": "betas", "data": ms.Tensor(np.zeros((12, 4, 3), np.float32))}],
                       search, append_dict={"search_meta": json.dumps({"epoch": 1})})
    # A ModelZoo-port training checkpoint: its parameter names (src/core/*.py of the port), Momentum
    # moments "moments.<name>" and a global_step, with values that differ from a fresh init.
    zoo_net = build_model(tiny_cfg(variant="modelzoo"))
    rng = np.random.default_rng(0)
    zoo = {}
    for name, param in zoo_net.parameters_and_names():
        target = modelzoo_name(name)
        if target is None:
            continue
        value = rng.standard_normal(param.shape).astype(np.float32) * 0.1
        if "moving_variance" in name or "gamma" in name:
            value = np.abs(value) + 0.5
        zoo[target] = value
        zoo["moments." + target] = value * 0.01
    zoo["global_step"] = np.array([7], np.int32)
    zoo["momentum"] = np.array(0.9, np.float32)
    modelzoo = str(folder / "modelzoo.ckpt")
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in zoo.items()], modelzoo)
    return {"retrain": retrain, "search": search, "modelzoo": modelzoo, "zoo": zoo, "net": net, "zoo_net": zoo_net}


@pytest.mark.parametrize("consumer", ["load_network", "resume", "load_weights"])
def test_search_checkpoint_says_decode_then_train(files, consumer):
    cfg = tiny_cfg()
    with pytest.raises(UserError, match=r"is a search_epoch<N>.ckpt written by search.py.*python decode.py "
                                        r"--ckpt_path .*python train.py --arch_path") as info:
        if consumer == "load_network":
            load_network(cfg, files["search"])
        elif consumer == "resume":
            resume_train_state(None, files["net"], files["search"], {}, 3)
        else:
            load_weights(files["net"], files["search"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("consumer, purpose", [("decode", "decode.py"), ("search_resume", "search.py --resume")])
def test_retrain_checkpoint_where_a_search_one_is_expected(files, tmp_path, consumer, purpose):
    from src.nas.search_export import export_architecture
    from src.nas.search_trainer import SearchTrainer

    with pytest.raises(UserError, match="is a checkpoint written by train.py, which %s cannot use; pass a "
                                        "search_epoch<N>.ckpt written by search.py; evaluate this one" % purpose):
        if consumer == "decode":
            export_architecture(files["retrain"], str(tmp_path / "arch"))
        else:
            SearchTrainer.resume(None, files["retrain"])  # the file is refused before the trainer is used
    assert not (tmp_path / "arch").exists()


def test_modelzoo_checkpoint_needs_the_modelzoo_variant(files):
    with pytest.raises(UserError, match="ModelZoo port.*cannot use; pass --variant modelzoo"):
        load_network(tiny_cfg(), files["modelzoo"])


def test_modelzoo_checkpoint_loads_for_inference(files):
    net = load_network(tiny_cfg(variant="modelzoo"), files["modelzoo"])
    for name, param in net.parameters_and_names():
        target = modelzoo_name(name)
        if target is not None:
            np.testing.assert_array_equal(param.asnumpy(), files["zoo"][target], err_msg=name)
    assert not net.training


def test_modelzoo_checkpoint_as_initial_weights(files):
    cfg = tiny_cfg(variant="modelzoo")
    net = files["zoo_net"]
    load_weights(net, files["modelzoo"], expected=checkpoint_meta(cfg, net.architecture), variant="modelzoo")
    weight = dict(net.parameters_and_names())["encoder.stem.0.conv.weight"]
    np.testing.assert_array_equal(weight.asnumpy(), files["zoo"]["encoder.stem0.0.weight"])


def test_modelzoo_training_checkpoint_resumes_weights_momentum_and_step(files):
    cfg = tiny_cfg(variant="modelzoo")
    net = files["zoo_net"]
    optimizer = nn.Momentum(net.trainable_params(), learning_rate=0.01, momentum=0.9)
    train_network = nn.TrainOneStepCell(nn.WithLossCell(net, nn.MSELoss()), optimizer)
    step = resume_train_state(train_network, net, files["modelzoo"], checkpoint_meta(cfg, net.architecture), 3)
    assert step == 7
    state = {p.name: p for p in train_network.get_parameters()}
    np.testing.assert_array_equal(state["moments.encoder.stem.0.conv.weight"].asnumpy(),
                                  files["zoo"]["moments.encoder.stem0.0.weight"])
    np.testing.assert_array_equal(state["encoder.stem.0.conv.weight"].asnumpy(), files["zoo"]["encoder.stem0.0.weight"])


def test_modelzoo_variant_defaults_to_bgr_unless_set():
    assert tiny_cfg().channel_order == "rgb"
    assert tiny_cfg(variant="modelzoo").channel_order == "bgr"
    assert tiny_cfg(variant="modelzoo", channel_order="rgb").channel_order == "rgb"


def test_modelzoo_variant_needs_three_cells(tmp_path):
    arch = tmp_path / "two.json"
    arch.write_text(json.dumps({"network_path": [0, 1], "cell": [[0, "sep_conv_3x3"], [1, "sep_conv_3x3"]]}))
    with pytest.raises(UserError, match="needs at least 3 cells; this architecture has 2"):
        build_model(tiny_cfg(variant="modelzoo", arch_path=str(arch)))


def test_evidence_decode_of_a_checkpoint_without_evidence_is_refused_before_writing(files, tmp_path):
    from src.nas.search_export import export_architecture

    with pytest.raises(UserError, match="has no architecture-gradient evidence, which the path decode 'evidence' "
                                        "reads.*or pass another --path_decode") as info:
        export_architecture(files["search"], str(tmp_path / "arch"), "evidence")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "arch").exists()
