"""First-order DARTS bi-level search of the Auto-DeepLab supernet (SPEC 5).

Every iteration: a weight step on a batch of half A (SGD, momentum 0.9, cosine lr 0.025 -> 0.001,
weight decay 3e-4), then, from ``arch_start_epoch`` on, an architecture step on a batch of half B
(Adam on alpha and beta, lr 3e-3, weight decay 1e-3 added to the gradient as in DARTS, betas
(0.9, 0.999) as in the PyTorch port: the paper does not state them; DARTS used (0.5, 0.999)).
Loss: plain cross-entropy, label 255 ignored.

After each epoch: mIoU of the supernet on half B (fixed crops), alpha/beta appended to
``arch_history.npz``, the decoded ``architecture.json``, and ``search_epoch<E>.ckpt`` holding
everything needed to resume exactly: weights, BN statistics, alpha, beta, both optimizer states,
the epoch, the A/B split and the seed (data order and augmentation are functions of
(seed, half, epoch), so no RNG state is needed).
"""
import json
import logging
import math
import os
import time

import mindspore as ms
import mindspore.nn as nn
import mindspore.ops as ops
import numpy as np

from src.errors import UserError
from src.eval.metrics import ConfusionMatrix
from src.nas.architecture import Architecture
from src.nas.decode import decode_cell, decode_path
from src.nas.search_data import count_records, half_batches, split_records
from src.nas.supernet import SearchSupernet

LOG = logging.getLogger("search")
META_KEY = "search_meta"
SPLIT_KEYS = ("search_split_a", "search_split_b")
OPTIMIZER_PREFIXES = ("weight_optimizer/", "arch_optimizer/")


def cosine_lr(step, total_steps, base_lr, min_lr):
    """Cosine annealing from base_lr (step 0) to min_lr (last step)."""
    progress = step / max(1, total_steps - 1)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def masked_cross_entropy(logits, labels, ignore_label):
    """Mean pixel cross-entropy over labels != ignore_label (0 when none is labelled)."""
    valid = (labels != ignore_label).astype(ms.float32)
    safe = ops.where(labels != ignore_label, labels, ops.zeros_like(labels))
    log_probs = ops.log_softmax(logits, axis=1)
    picked = ops.gather_elements(log_probs, 1, safe.expand_dims(1)).squeeze(1)
    return -(picked * valid).sum() / ops.maximum(valid.sum(), ops.ones_like(valid.sum()))


class SearchTrainer:
    """Owns the supernet, both optimizers, the data split and the epoch loop."""

    def __init__(self, cfg, mindrecord_path, output_dir):
        self.cfg, self.mindrecord_path, self.output_dir = cfg, mindrecord_path, output_dir
        self.split = split_records(count_records(mindrecord_path), cfg.seed)
        self.steps_per_epoch = min(len(half) for half in self.split) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise UserError(f"batch_size {cfg.batch_size} is larger than a search half "
                            f"({min(len(h) for h in self.split)} records); lower batch_size")
        self.net = SearchSupernet(
            num_classes=cfg.num_classes, num_layers=cfg.num_layers, filter_multiplier=cfg.filter_multiplier,
            block_multiplier=cfg.block_multiplier, stem_channels=cfg.stem_channels,
            bn_momentum=cfg.bn_momentum, bn_eps=cfg.bn_eps, seed=cfg.seed,
            compiled=cfg.mode == "graph", memory_mode=cfg.memory_mode,
            partial_channel_k=cfg.partial_channel_k)
        total = cfg.epochs * self.steps_per_epoch
        lrs = [cosine_lr(step, total, cfg.base_lr, cfg.min_lr) for step in range(total)]
        self.weights = self.net.weight_parameters()
        self.weight_optimizer = nn.SGD(self.weights, learning_rate=ms.Tensor(np.array(lrs, np.float32)),
                                       momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        self.arch_optimizer = nn.Adam(self.net.arch_parameters(), learning_rate=cfg.arch_lr,
                                      beta1=cfg.arch_betas[0], beta2=cfg.arch_betas[1],
                                      weight_decay=cfg.arch_weight_decay)
        self.weight_grad = ms.value_and_grad(self._loss, None, self.weights)
        self.arch_grad = ms.value_and_grad(self._loss, None, self.net.arch_parameters())
        self.start_epoch = 0

    def _loss(self, image, label):
        return masked_cross_entropy(self.net(image), label, self.cfg.ignore_label)

    def weight_step(self, image, label):
        loss, grads = self.weight_grad(ms.Tensor(image), ms.Tensor(label))
        self.weight_optimizer(grads)
        return float(loss.asnumpy())

    def arch_step(self, image, label):
        loss, grads = self.arch_grad(ms.Tensor(image), ms.Tensor(label))
        self.arch_optimizer(grads)
        return float(loss.asnumpy())

    def batches(self, epoch, half, shuffle=True):
        indices = self.split[0 if half == "A" else 1]
        return half_batches(self.mindrecord_path, indices, epoch, half, self.cfg.batch_size,
                            self.cfg.crop_size, self.cfg.seed, self.cfg.ignore_label, shuffle=shuffle)

    def train_epoch(self, epoch):
        """One epoch of weight steps on A and (from arch_start_epoch) arch steps on B."""
        search_arch = epoch >= self.cfg.arch_start_epoch
        arch_batches = self.batches(epoch, "B") if search_arch else None
        losses = []
        for step, (image, label) in enumerate(self.batches(epoch, "A")):
            started = time.time()
            loss = self.weight_step(image, label)
            arch_loss = self.arch_step(*next(arch_batches)) if search_arch else float("nan")
            losses.append(loss)
            LOG.info("epoch %d step %d/%d weight_loss %.4f arch_loss %.4f %.2fs", epoch + 1, step + 1,
                     self.steps_per_epoch, loss, arch_loss, time.time() - started)
            if step + 1 == self.steps_per_epoch:
                break
        return float(np.mean(losses))

    def validate(self):
        """mIoU of the supernet on half B (epoch-0 crops, file order)."""
        self.net.set_train(False)
        matrix = ConfusionMatrix(self.cfg.num_classes, self.cfg.ignore_label)
        for image, label in self.batches(0, "B", shuffle=False):
            matrix.update(self.net(ms.Tensor(image)).asnumpy().argmax(axis=1), label)
        self.net.set_train(True)
        return matrix.scores()["miou"]

    def write_architecture(self, epoch, checkpoint_path):
        """architecture.json of the current alpha/beta (see ``write_decoded_architecture``)."""
        write_decoded_architecture(os.path.join(self.output_dir, "architecture.json"),
                                   self.net.alphas.asnumpy(), self.net.betas.asnumpy(),
                                   {"source": "search", "checkpoint": checkpoint_path, "epoch": epoch})

    def run(self, until_epoch=None):
        """Train from ``start_epoch`` to ``until_epoch`` (default: all epochs)."""
        os.makedirs(self.output_dir, exist_ok=True)
        self.net.set_train(True)
        for epoch in range(self.start_epoch, until_epoch or self.cfg.epochs):
            loss = self.train_epoch(epoch)
            miou = self.validate()
            checkpoint_path = os.path.join(self.output_dir, f"search_epoch{epoch + 1}.ckpt")
            self.save_checkpoint(checkpoint_path, epoch + 1)
            self.append_history(epoch + 1, loss, miou)
            self.write_architecture(epoch + 1, checkpoint_path)
            LOG.info("epoch %d done: mean weight loss %.4f, mIoU on B %.4f, checkpoint %s",
                     epoch + 1, loss, miou, checkpoint_path)

    def append_history(self, epoch, loss, miou):
        path = os.path.join(self.output_dir, "arch_history.npz")
        history = dict(np.load(path)) if os.path.exists(path) else {}
        entry = {"epoch": np.array([epoch]), "alphas": self.net.alphas.asnumpy()[None],
                 "betas": self.net.betas.asnumpy()[None], "weight_loss": np.array([loss]),
                 "miou_b": np.array([miou])}
        keep = history["epoch"] < epoch if history else None
        merged = {key: np.concatenate([history[key][keep], value]) if history else value
                  for key, value in entry.items()}
        with open(path + ".tmp", "wb") as handle:
            np.savez(handle, **merged)
        os.replace(path + ".tmp", path)

    def save_checkpoint(self, path, epoch):
        entries = [{"name": p.name, "data": p} for p in self.net.get_parameters()]
        for prefix, optimizer in zip(OPTIMIZER_PREFIXES, (self.weight_optimizer, self.arch_optimizer)):
            own = {id(p) for p in self.net.get_parameters()}
            entries += [{"name": prefix + p.name, "data": p} for p in optimizer.get_parameters()
                        if id(p) not in own]
        entries += [{"name": key, "data": ms.Tensor(half.astype(np.int32))}
                    for key, half in zip(SPLIT_KEYS, self.split)]
        meta = self.meta(epoch)
        temporary = path[:-len(".ckpt")] + ".tmp.ckpt"  # save_checkpoint insists on .ckpt
        ms.save_checkpoint(entries, temporary, append_dict={META_KEY: json.dumps(meta)})
        os.replace(temporary, path)

    def meta(self, epoch):
        """What a checkpoint records about the run (and what a resume must match).

        partial_channel changes the maths, so its k is recorded (None otherwise); recompute does
        not, so a run may resume with or without it."""
        keys = ("seed", "num_layers", "filter_multiplier", "block_multiplier", "num_classes",
                "epochs", "batch_size", "crop_size")
        partial_k = self.cfg.partial_channel_k if self.cfg.memory_mode == "partial_channel" else None
        return {"epoch": epoch, "steps_per_epoch": self.steps_per_epoch,
                "stem_channels": self.cfg.stem_channels, "partial_channel_k": partial_k,
                **{key: getattr(self.cfg, key) for key in keys}}

    def resume(self, path):
        params, meta = load_search_checkpoint(path)
        expected = self.meta(epoch=meta["epoch"])
        for key, value in expected.items():
            if meta.get(key) != value:
                raise UserError(f"checkpoint {path} was made with {key}={meta.get(key)}, this run "
                                f"has {value}; resume with the same settings")
        split = tuple(params.pop(key).asnumpy().astype(np.int64) for key in SPLIT_KEYS)
        if any(not np.array_equal(a, b) for a, b in zip(split, self.split)):
            raise UserError(f"checkpoint {path} used a different A/B split of the train records; "
                            "resume on the same MindRecord with the same seed")
        net_params = {k: v for k, v in params.items() if not k.startswith(OPTIMIZER_PREFIXES)}
        not_loaded, _ = ms.load_param_into_net(self.net, net_params, strict_load=True)
        for prefix, optimizer in zip(OPTIMIZER_PREFIXES, (self.weight_optimizer, self.arch_optimizer)):
            state = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
            for p in optimizer.get_parameters():
                if p.name in state:
                    p.set_data(state[p.name])
        if not_loaded:
            raise UserError(f"checkpoint {path} lacks {len(not_loaded)} supernet parameters "
                            f"(e.g. {not_loaded[0]}); it does not match this configuration")
        self.start_epoch = meta["epoch"]
        return meta


DECODE_METHOD = ("network path: Viterbi over beta softmax-normalised per node's existing moves; "
                 "cell: per block the 2 edges with the largest non-none op weight, argmax non-none op")


def write_decoded_architecture(path, alphas, betas, provenance):
    """Decode alpha/beta and write the (validated, retrainable) architecture file; returns the
    Architecture: as many cells as the supernet has layers, as many blocks as it has."""
    architecture = Architecture(decode_path(betas), decode_cell(alphas),
                                {**provenance, "decode": DECODE_METHOD})
    architecture.save(path)
    return architecture


def load_search_checkpoint(path):
    """(parameters dict, metadata dict) of a search checkpoint; UserError when not one."""
    if not path or not os.path.isfile(path):
        raise UserError(f"search checkpoint '{path}' does not exist; pass a search_epoch<N>.ckpt "
                        "written by search.py")
    try:
        params = ms.load_checkpoint(path)
    except (RuntimeError, ValueError, OSError) as error:
        raise UserError(f"'{path}' is not a readable MindSpore checkpoint ({error}); pass a "
                        "search_epoch<N>.ckpt written by search.py") from None
    if META_KEY not in params or "alphas" not in params or "betas" not in params:
        raise UserError(f"'{path}' is not a search checkpoint (no alphas/betas/{META_KEY}); pass a "
                        "search_epoch<N>.ckpt written by search.py")
    meta = json.loads(str(params.pop(META_KEY)))
    return params, meta


def search(cfg):
    """search.py: set up logging and the device, then run (or resume) the search."""
    from src.data.mindrecord_writer import find_mindrecord

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not cfg.data_path:
        raise UserError("--data_path is required: the folder with cityscapes_train.mindrecord")
    ms.set_device(cfg.device_target, cfg.device_id)
    # The supernet's Python loop runs eagerly; mode graph compiles each node shape once.
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_seed(cfg.seed)
    trainer = SearchTrainer(cfg, find_mindrecord(cfg.data_path, "train"), cfg.output_path)
    if cfg.resume:
        trainer.resume(cfg.resume)
        LOG.info("resumed from %s at epoch %d", cfg.resume, trainer.start_epoch)
    trainer.run()
    return trainer
