"""First-order DARTS bi-level search of the Auto-DeepLab supernet (docs/search.md, Method).

Every iteration: a weight step on a batch of half A (SGD, momentum 0.9, cosine lr 0.025 -> 0.001,
weight decay 3e-4), then, from ``arch_start_epoch`` on, an architecture step on a batch of half B
(``Architect``: Adam on alpha and beta, lr 3e-3, weight decay 1e-3 added to the gradient as in
DARTS, betas (0.9, 0.999) as in the PyTorch port: the paper does not state them; DARTS used
(0.5, 0.999)). Loss: plain cross-entropy, label 255 ignored (``src.train.loss``).

One gradient function for both steps. Both steps differentiate the loss w.r.t. every parameter
(weights, alpha, beta) and each applies its own part. Reason: MindSpore 2.10 in PyNative caches the
backward graph of an ``ms.jit`` function (the supernet's node function) by its input signature
without which inputs need a gradient: the first gradient configuration it sees is reused for the
other configurations from their second call on, so with two gradient functions (weights only,
alpha/beta only) the architecture gradients were exactly 0 from the second architecture step on,
or the weight gradients wrong when the architecture step came first
(docs/search.md, One gradient configuration; tests/nas/test_search_gradients.py). The cost is the
weight gradients computed in the architecture step.

After each epoch: mIoU of the supernet on half B (fixed crops), alpha/beta and the search health
(``Architect.epoch_health``) appended to ``arch_history.npz``, the decoded ``architecture.json``,
and ``search_epoch<E>.ckpt`` holding everything needed to resume exactly: weights, BN statistics,
alpha, beta, both optimizer states, the epoch, the A/B split and the seed (data order and
augmentation are functions of (seed, half, epoch), so no RNG state is needed). An epoch of
architecture steps whose architecture gradients are all exactly zero stops the search
(``FrozenArchitectureError``).
"""
import itertools
import json
import logging
import os
import re
import time

import mindspore as ms
import mindspore.nn as nn
import numpy as np

from src.checkpoint import SEARCH, SEARCH_META_KEY, read_checkpoint
from src.device import init_device
from src.fileio import atomic_path, folder_lock, kill_point, remove_stale_temporaries
from src.errors import UserError, interruption_note, reclaim_signals
from src.eval.metrics import ConfusionMatrix
from src.architecture import Architecture
from src.nas.decode import (DEFAULT_PATH_DECODE, PATH_DECODES, decode_cell, decode_path, move_mask, normalize_betas,
                            uniform_random_path, valid_paths)
from src.nas.health import GradientMoments, epoch_figures, path_decode_input, scored_path_z, verdict
from src.nas.search_data import count_records, half_batches, split_records
from src.nas.supernet import build_supernet
from src.numeric import softmax
from src.train.checkpoint import write_checkpoint_atomic
from src.train.loss import CrossEntropyLoss
from src.train.lr import cosine_schedule
from src.train.progress_log import format_duration

LOG = logging.getLogger("search")
META_KEY = SEARCH_META_KEY  # the JSON string of ``SearchTrainer.meta`` in every search checkpoint
# What the searches whose checkpoints predate a meta key ran with.
META_BEFORE_RECORDED = {"move_mixing": "paper", "path_search": "relaxed"}
SPLIT_KEYS = ("search_split_a", "search_split_b")
OPTIMIZER_PREFIXES = ("weight_optimizer/", "arch_optimizer/")
HEALTH_KEYS = ("arch_steps", "alpha_grad_norm", "beta_grad_norm", "alpha_entropy", "beta_entropy")
# The architecture-gradient moments behind the verdict (src.nas.health), since the first
# architecture step: checkpoint entries ``evidence_entry(stream, field)``, history keys
# stream + "_" + field.
EVIDENCE_STREAMS = ("alpha", "beta")
EVAL_BATCHES_PER_CALL = 8  # training batches per supernet call when scoring (SearchTrainer.eval_batch)
HALVES_DRAWN = ("A", "B")  # single_path: a path is drawn per step and half
LOGGED_PATHS = 5  # single_path: the best scored paths in the log and architecture.json
EVIDENCE_FIELDS = ("count", "total", "total_outer")
FIGURE_KEYS = ("alpha_change", "beta_change", "op_prob_margin", "op_logit_margin", "path_margin",
               "parameter_free_ops")


def evidence_entry(stream, field):
    """Checkpoint entry name of one field of one stream's gradient moments."""
    return f"arch_evidence/{stream}/{field}"


class FrozenArchitectureError(UserError):
    """An epoch of architecture steps produced exactly zero alpha and beta gradients (one line
    from search.py, like a configuration error: the run must not go on silently)."""


def is_batch_norm_parameter(parameter):
    """BatchNorm scale/shift (MindSpore names them ``*.gamma`` / ``*.beta``)."""
    return parameter.name.endswith((".gamma", ".beta"))


def weight_parameter_groups(weights, weight_decay):
    """SGD groups of the supernet weights. Policy: every conv weight and the classifier (weight
    and bias) decay with ``weight_decay``; BatchNorm scale and shift (stem and heads only: the
    cells' BN is non-affine) do not, as in retraining (key ``weight_decay``) and DARTS' practice
    of not shrinking normalisation parameters."""
    decayed = [p for p in weights if not is_batch_norm_parameter(p)]
    kept = [p for p in weights if is_batch_norm_parameter(p)]
    groups = [{"params": decayed, "weight_decay": weight_decay}]
    if kept:
        groups.append({"params": kept, "weight_decay": 0.0})
    return groups


def regroup(batches, size):
    """(image, label) batches re-cut into batches of ``size`` (the last may be smaller)."""
    images, labels = [], []
    for batch_images, batch_labels in batches:
        for image, label in zip(batch_images, batch_labels):
            images.append(image)
            labels.append(label)
            if len(images) == size:
                yield np.stack(images), np.stack(labels)
                images, labels = [], []
    if images:
        yield np.stack(images), np.stack(labels)


def mean_entropy(probabilities, mask=None):
    """Mean Shannon entropy (nats) of the distributions along the last axis (rows where ``mask``
    has any entry; entries outside ``mask`` are 0)."""
    p = np.asarray(probabilities, np.float64)
    terms = -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1)
    if mask is None:
        return float(terms.mean())
    return float(terms[np.asarray(mask).any(axis=-1)].mean())


class Architect:
    """The architecture step (DARTS' architect.py, first order): Adam on alpha and beta, with
    explicit groups so that weight decay reaches both (MindSpore's default filter would skip the
    Parameter ``betas``: its name contains "beta"), and the per-epoch health figures."""

    def __init__(self, net, cfg):
        self.net = net
        # single_path searches the path by scores, not by beta: Adam leaves beta as it started.
        self.learns_betas = cfg.path_search == "relaxed"
        learnt = net.arch_parameters()[:None if self.learns_betas else 1]
        self.optimizer = nn.Adam(
            [{"params": learnt, "weight_decay": cfg.arch_weight_decay}],
            learning_rate=cfg.arch_lr, beta1=cfg.arch_betas[0], beta2=cfg.arch_betas[1])
        self.path_decode = cfg.path_decode
        self.scored_path = None  # single_path: {path, z, scores} of the best scored path, once scored
        # The architecture the steps start from: the reference of the health's "change since the start".
        self.start = (net.alphas.asnumpy().copy(), net.betas.asnumpy().copy())
        self.evidence = {stream: GradientMoments.zeros(start.shape)
                         for stream, start in zip(EVIDENCE_STREAMS, self.start)}
        self.epoch_evidence = []  # the evidence at each epoch end: the verdict's earlier half
        self.reset_health()

    def reset_health(self):
        self.steps, self.alpha_norms, self.beta_norms = 0, [], []

    def step(self, arch_grads, logsumexp_weight=0.0):
        """Adam on alpha/beta with the data loss's gradients, which are also the verdict's evidence
        (before Adam's weight decay and the Beta-Decay term: a deterministic term would count as
        signal). ``logsumexp_weight`` > 0 adds beta-DARTS' Beta-Decay, the gradient of
        weight x mean over edges of logsumexp(alpha): weight x softmax(alpha) / edges."""
        alpha_grad, beta_grad = (grad.asnumpy() for grad in arch_grads)
        applied = tuple(arch_grads)
        if logsumexp_weight:
            alphas = self.net.alphas.asnumpy()
            applied = (ms.Tensor(alpha_grad + logsumexp_weight * softmax(alphas) / len(alphas)),
                       applied[1])
        self.optimizer(applied if self.learns_betas else applied[:1])
        self.steps += 1
        self.alpha_norms.append(float(np.linalg.norm(alpha_grad)))
        self.beta_norms.append(float(np.linalg.norm(beta_grad)))
        self.evidence["alpha"].add(alpha_grad)
        self.evidence["beta"].add(beta_grad)

    def verdict(self):
        """Did the data decide the current architecture? (``src.nas.health.verdict``, with the
        evidence of the last epoch end at or before half the steps as its earlier half)."""
        return verdict(self.net.alphas.asnumpy(), self.path_input(), self.evidence["alpha"],
                       self.evidence["beta"], self.path_decode,
                       earlier=halfway_evidence(self.epoch_evidence, self.evidence["alpha"].count),
                       scored_path_z=self.scored_path["z"] if self.scored_path else None)

    def path_input(self):
        """What the path decode reads now (``src.nas.health.path_decode_input``)."""
        return path_decode_input(self.net.betas.asnumpy(), self.evidence["beta"], self.path_decode)

    def end_epoch(self):
        """Keep a copy of this epoch end's evidence."""
        self.epoch_evidence.append({stream: moments.copy() for stream, moments in self.evidence.items()})

    def epoch_health(self):
        """This epoch's figures: architecture steps run, mean L2 norms of the alpha and beta
        gradients per step (0 without steps), mean entropy of softmax(alpha) per edge and of the
        normalised beta per node (its existing moves). Raises ``FrozenArchitectureError`` when
        steps ran and every architecture gradient was exactly zero."""
        alphas, betas = self.net.alphas.asnumpy(), self.net.betas.asnumpy()
        mask = move_mask(*betas.shape[:2])
        health = {"arch_steps": self.steps,
                  "alpha_grad_norm": float(np.mean(self.alpha_norms)) if self.steps else 0.0,
                  "beta_grad_norm": float(np.mean(self.beta_norms)) if self.steps else 0.0,
                  "alpha_entropy": mean_entropy(softmax(alphas)),
                  "beta_entropy": mean_entropy(normalize_betas(betas), mask),
                  **epoch_figures(self.start[0], alphas, self.start[1], betas, self.path_decode,
                                  self.path_input())}
        if not self.learns_betas:  # single_path: the path margin of betas nobody searched says nothing
            health["path_margin"] = float("nan")
        if self.steps and not any(self.alpha_norms) and not any(self.beta_norms):
            raise FrozenArchitectureError(
                f"{self.steps} architecture steps this epoch all had exactly zero alpha and beta "
                "gradients: the architecture is frozen and the search would decode its random "
                "initialisation. The gradient of the loss does not reach alpha/beta (see "
                "docs/search.md, One gradient configuration)")
        return health


class SearchTrainer:
    """Owns the supernet, the weight optimizer, the Architect, the data split and the epoch loop."""

    def __init__(self, cfg, mindrecord_path, output_dir, heldout_path=None):
        """``heldout_path``: a MindRecord the search never trains on (the val split), for the
        supernet's held-out mIoU per epoch; None: not measured."""
        self.cfg, self.mindrecord_path, self.output_dir = cfg, mindrecord_path, output_dir
        self.heldout_path = heldout_path
        self.heldout_indices = np.arange(count_records(heldout_path)) if heldout_path else None
        self.split = split_records(count_records(mindrecord_path), cfg.seed)
        self.steps_per_epoch = min(len(half) for half in self.split) // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise UserError(f"batch_size {cfg.batch_size} is larger than a search half "
                            f"({min(len(h) for h in self.split)} records); lower batch_size")
        self.net = build_supernet(cfg)
        lrs = cosine_schedule(cfg.epochs * self.steps_per_epoch, cfg.base_lr, cfg.min_lr)
        groups = weight_parameter_groups(self.net.weight_parameters(), cfg.weight_decay)
        self.weight_optimizer = nn.SGD(groups,
                                       learning_rate=ms.Tensor(lrs), momentum=cfg.momentum)
        self.weights = list(self.weight_optimizer.parameters)  # the groups' order
        self.architect = Architect(self.net, cfg)
        self.arch_optimizer = self.architect.optimizer
        self.criterion = CrossEntropyLoss(cfg.ignore_label)
        self.grad = ms.value_and_grad(self._loss, None, self.weights + self.net.arch_parameters())
        self.start_epoch = 0
        self.clock = None  # (time at the end of this process's first step, gradient calls since)

    def _loss(self, image, label):
        return self.criterion(self.net(image), label)

    def weight_step(self, image, label):
        loss, grads = self.grad(ms.Tensor(image), ms.Tensor(label))
        self.weight_optimizer(grads[:len(self.weights)])
        return float(loss.asnumpy())

    def arch_step(self, image, label, logsumexp_weight=0.0):
        loss, grads = self.grad(ms.Tensor(image), ms.Tensor(label))
        self.architect.step(grads[len(self.weights):], logsumexp_weight)
        return float(loss.asnumpy())

    def batches(self, epoch, half, shuffle=True):
        indices = self.split[0 if half == "A" else 1]
        return half_batches(self.mindrecord_path, indices, epoch, half, self.cfg.batch_size,
                            self.cfg.crop_size, self.cfg.seed, self.cfg.ignore_label, self.cfg.search_scale,
                            shuffle=shuffle)

    def heldout_batches(self, epoch, shuffle=True):
        """Crops of the held-out records, cut as half B's (the supernet's scores on unseen images)."""
        return half_batches(self.heldout_path, self.heldout_indices, epoch, "B", self.cfg.batch_size,
                            self.cfg.crop_size, self.cfg.seed, self.cfg.ignore_label, self.cfg.search_scale,
                            shuffle=shuffle)

    def train_epoch(self, epoch):
        """One epoch of weight steps on A and (from arch_start_epoch) arch steps on B."""
        search_arch = epoch >= self.cfg.arch_start_epoch
        self.architect.reset_health()
        arch_batches = self.batches(epoch, "B") if search_arch else None
        losses = []
        for step, (image, label) in enumerate(self.batches(epoch, "A")):
            started = time.time()
            self.net.aux_skip_weight = self.aux_skip_weight(epoch, step)
            self.sample_path(epoch, step, "A")
            loss = self.weight_step(image, label)
            self.sample_path(epoch, step, "B")
            arch_loss = (self.arch_step(*next(arch_batches), self.alpha_logsumexp_weight(epoch, step))
                         if search_arch else float("nan"))
            losses.append(loss)
            reclaim_signals()  # MindSpore's runtime replaces the SIGINT handler during a step
            eta = self.eta(epoch, step, time.time())
            if (step + 1) % self.cfg.log_interval == 0 or step + 1 == self.steps_per_epoch:
                LOG.info("epoch %d step %d/%d weight_loss %.4f arch_loss %.4f %.2fs eta %s", epoch + 1,
                         step + 1, self.steps_per_epoch, loss, arch_loss, time.time() - started, eta)
            if step + 1 == self.steps_per_epoch:
                break
        self.net.use_path(None)
        return float(np.mean(losses))

    def sample_path(self, epoch, step, half):
        """path_search single_path, from ``arch_start_epoch`` on: the step on ``half`` trains one
        valid path, drawn uniformly (a function of (seed, epoch, step, half): a resumed run draws
        the same). Before, the whole supernet warms the weights up (a path drawn per step would get
        a few dozen of them: too few to learn more than the majority class)."""
        if self.cfg.path_search == "single_path" and epoch >= self.cfg.arch_start_epoch:
            rng = np.random.default_rng([self.cfg.seed, epoch, step, HALVES_DRAWN.index(half)])
            self.net.use_path(uniform_random_path(self.cfg.num_layers, rng))

    def path_candidates(self, epoch):
        """The paths scored at the end of ``epoch``: every valid one, or ``scored_paths`` distinct
        uniform draws when there are more (seeded by (seed, epoch))."""
        paths = valid_paths(self.cfg.num_layers)
        if len(paths) <= self.cfg.scored_paths:
            return paths
        rng = np.random.default_rng([self.cfg.seed, epoch, len(HALVES_DRAWN)])
        drawn = {}
        while len(drawn) < self.cfg.scored_paths:
            path = uniform_random_path(self.cfg.num_layers, rng)
            drawn.setdefault(tuple(path), path)
        return list(drawn.values())

    def score_paths(self, epoch):
        """path_search single_path: every candidate path's supernet loss (cross-entropy) on each of
        the first ``EVAL_BATCHES_PER_CALL`` batches of half B (epoch-0 crops, file order; one
        supernet call per path, BN as in ``score``). The loss, not the mIoU: a briefly trained
        path predicts the majority class almost everywhere, and every path's mIoU then ties.
        Returns [(path, per-batch loss)], lowest mean first."""
        batches = list(itertools.islice(self.batches(0, "B", shuffle=False), EVAL_BATCHES_PER_CALL))
        images = ms.Tensor(np.concatenate([image for image, _ in batches]))
        bounds = [int(b) for b in np.cumsum([0] + [len(label) for _, label in batches])]
        scored = []
        self.net.set_train(False)
        for path in self.path_candidates(epoch):
            self.net.use_path(path)
            logits = self.net(images)
            scored.append((path, [float(self.criterion(logits[start:end], ms.Tensor(label)).asnumpy())
                                  for start, end, (_, label) in zip(bounds, bounds[1:], batches)]))
        self.net.use_path(None)
        self.net.set_train(True)
        scored.sort(key=lambda item: np.mean(item[1]))
        return scored

    def calls_per_step(self, epoch):
        """Gradient calls of one step of ``epoch``: the weight step's, and the architecture step's
        (the two cost the same) from ``arch_start_epoch`` on."""
        return 2 if epoch >= self.cfg.arch_start_epoch else 1

    def gradient_calls_left(self, epoch, step):
        """Gradient calls of the run after step ``step`` of ``epoch``."""
        return ((self.steps_per_epoch - step - 1) * self.calls_per_step(epoch)
                + sum(self.steps_per_epoch * self.calls_per_step(later)
                      for later in range(epoch + 1, self.cfg.epochs)))

    def eta(self, epoch, step, now):
        """Time left, at the mean time per gradient call since this process's first step (which
        compiles); epoch ends are spread over the calls. Unknown ("-") until a second step."""
        if self.clock is None:
            self.clock = (now, 0)
            return "-"
        start, calls = self.clock
        calls += self.calls_per_step(epoch)
        self.clock = (start, calls)
        return format_duration((now - start) / calls * self.gradient_calls_left(epoch, step))

    def arch_steps_done(self, epoch, step):
        """(architecture steps before this one, all of the run's), or None before the first."""
        start, total = self.cfg.arch_start_epoch, self.cfg.epochs
        if epoch < start or total <= start:
            return None
        return (epoch - start) * self.steps_per_epoch + step, (total - start) * self.steps_per_epoch

    def aux_skip_weight(self, epoch, step):
        """DARTS-' auxiliary skip weight at a step: ``aux_skip_weight`` through the weight-only
        epochs, then falling linearly to 0 at the last architecture step (0: the paper's supernet)."""
        progress = self.arch_steps_done(epoch, step)
        if progress is None:
            return self.cfg.aux_skip_weight
        return self.cfg.aux_skip_weight * (1.0 - progress[0] / progress[1])

    def alpha_logsumexp_weight(self, epoch, step):
        """beta-DARTS' Beta-Decay weight of this architecture step: rising linearly from
        ``alpha_logsumexp_weight`` / steps at the first to ``alpha_logsumexp_weight`` at the last."""
        progress = self.arch_steps_done(epoch, step)
        return 0.0 if progress is None else self.cfg.alpha_logsumexp_weight * (progress[0] + 1) / progress[1]

    @property
    def eval_batch(self):
        """Crops per supernet call when scoring: a call costs about the same for 2 and 24 crops (its
        time is the dispatch of the per-edge graphs, not their kernels), so scoring uses few large
        calls of one shape (compiled once) instead of one call per training batch."""
        return EVAL_BATCHES_PER_CALL * self.cfg.batch_size

    def score(self, named_batches):
        """mIoU of the supernet on each named set of (image, label) batches. The sets' crops go
        through together, in calls of ``eval_batch`` crops (one call scores the demo's held-out
        images and half B at once). The supernet's BN normalises with the call's own statistics
        (label-free, so a set scored beside another still sees none of its labels), and the last
        call is filled up with the first call's crops (scored once, in the first call)."""
        self.net.set_train(False)
        matrices = {name: ConfusionMatrix(self.cfg.num_classes, self.cfg.ignore_label)
                    for name in named_batches}
        crops = ((name, image, label) for name, batches in named_batches.items()
                 for images, labels in batches for image, label in zip(images, labels))
        first = None
        while True:
            chunk = list(itertools.islice(crops, self.eval_batch))
            if not chunk:
                break
            images = np.stack([image for _, image, _ in chunk])
            first = images if first is None else first
            filler = np.resize(first, (self.eval_batch - len(chunk),) + first.shape[1:])
            filled = np.concatenate([images, filler])
            predictions = self.net(ms.Tensor(filled)).asnumpy()[:len(chunk)].argmax(axis=1)
            for (name, _, label), prediction in zip(chunk, predictions):
                matrices[name].update(prediction, label)
        self.net.set_train(True)
        return {name: matrix.scores()["miou"] for name, matrix in matrices.items()}

    def validate(self, batches=None):
        """mIoU of the supernet on ``batches`` (default: half B, epoch-0 crops, file order)."""
        return self.score({"B": batches or self.batches(0, "B", shuffle=False)})["B"]

    def epoch_scores(self):
        """(mIoU on half B, mIoU on the held-out records or NaN without them), from one pass: the
        search trains the weights on half A and the architecture on half B, so only the held-out
        records are unseen. single_path: of its chosen path, once there is one."""
        sets = {"B": self.batches(0, "B", shuffle=False)}
        if self.heldout_path:
            sets["heldout"] = self.heldout_batches(0, shuffle=False)
        self.net.use_path(self.architect.scored_path["path"] if self.architect.scored_path else None)
        scores = self.score(sets)
        self.net.use_path(None)
        return scores["B"], scores.get("heldout", float("nan"))

    def write_architecture(self, epoch, checkpoint_path, judged):
        """architecture.json of the current alpha/beta (see ``write_decoded_architecture``), with
        the search verdict ``judged``."""
        provenance = {"source": "search", "checkpoint": checkpoint_path, "epoch": epoch,
                      **verdict_provenance(judged)}
        write_decoded_architecture(os.path.join(self.output_dir, "architecture.json"),
                                   self.net.alphas.asnumpy(), self.architect.path_input(), provenance,
                                   self.cfg.path_decode, scored_path=self.architect.scored_path)

    def run(self, until_epoch=None):
        """Train from ``start_epoch`` to ``until_epoch`` (default: all epochs)."""
        os.makedirs(self.output_dir, exist_ok=True)
        self.net.set_train(True)
        for epoch in range(self.start_epoch, until_epoch or self.cfg.epochs):
            loss = self.train_epoch(epoch)
            health = self.architect.epoch_health()
            if self.cfg.path_search == "single_path" and epoch >= self.cfg.arch_start_epoch:
                self.choose_scored_path(epoch)
            miou, health["miou_heldout"] = self.epoch_scores()
            judged = self.architect.verdict()
            self.architect.end_epoch()
            checkpoint_path = os.path.join(self.output_dir, f"search_epoch{epoch + 1}.ckpt")
            # The checkpoint last: a run killed before it resumes from the previous epoch and
            # rewrites this epoch's history row; killed after it, the row is already there.
            self.append_history(epoch + 1, loss, miou, health)
            self.write_architecture(epoch + 1, checkpoint_path, judged)
            self.save_checkpoint(checkpoint_path, epoch + 1)
            LOG.info("epoch %d done: mean weight loss %.4f, supernet mIoU on B %.4f, held out %.4f, "
                     "checkpoint %s", epoch + 1, loss, miou, health["miou_heldout"], checkpoint_path)
            log_health(epoch + 1, health, judged)

    def choose_scored_path(self, epoch):
        """single_path: score the candidate paths, keep the best (lowest loss) with its z against
        the mean scored path (``src.nas.health.scored_path_z``) and log the best ``LOGGED_PATHS``."""
        scored = self.score_paths(epoch)
        mean_path = np.mean([losses for _, losses in scored], axis=0)
        best, best_losses = scored[0]
        summary = {"crops": EVAL_BATCHES_PER_CALL * self.cfg.batch_size, "scored": len(scored),
                   "mean": round(float(mean_path.mean()), 4),
                   "best": [[path, round(float(np.mean(losses)), 4)] for path, losses in scored[:LOGGED_PATHS]]}
        self.architect.scored_path = {"path": best, "z": scored_path_z(mean_path, best_losses), "scores": summary}
        LOG.info("epoch %d path scores (supernet loss on %d crops of half B, %d paths, mean %.4f): %s", epoch + 1,
                 summary["crops"], len(scored), summary["mean"],
                 ", ".join(f"{path} {score:.4f}" for path, score in summary["best"]))

    def resume_evidence(self, params, folder):
        """The verdict's gradient moments from a checkpoint (a checkpoint written before they were
        recorded: from zero, and the verdict then covers the steps since the resume), and those of
        its earlier epoch ends from the arch_history.npz beside it in ``folder``."""
        evidence = read_evidence(params, remove=True)
        if evidence is None:
            LOG.warning("checkpoint without the architecture-gradient moments: the search verdict "
                        "covers the architecture steps from this resume on")
        else:
            self.architect.evidence = evidence
            self.architect.epoch_evidence = history_evidence(folder, evidence["alpha"].count)

    def append_history(self, epoch, loss, miou, health):
        """One row per epoch: alpha, beta, mean weight loss, mIoU on B and the health figures
        (``HEALTH_KEYS``; NaN in the rows of a run resumed from before they were recorded)."""
        path = os.path.join(self.output_dir, "arch_history.npz")
        history = dict(np.load(path)) if os.path.exists(path) else {}
        entry = {"epoch": np.array([epoch]), "alphas": self.net.alphas.asnumpy()[None],
                 "betas": self.net.betas.asnumpy()[None], "weight_loss": np.array([loss]),
                 "miou_b": np.array([miou]),
                 **{key: np.array([health[key]]) for key in HEALTH_KEYS + FIGURE_KEYS + ("miou_heldout",)},
                 **{f"{stream}_{field}": np.array([getattr(moments, field)])
                    for stream, moments in self.architect.evidence.items() for field in EVIDENCE_FIELDS}}
        for key in set(entry) - set(history) if history else ():
            history[key] = np.full((len(history["epoch"]),) + entry[key].shape[1:], np.nan)
        keep = history["epoch"] < epoch if history else None
        merged = {key: np.concatenate([history[key][keep], value]) if history else value
                  for key, value in entry.items()}
        with atomic_path(path, keep_suffix=True) as temporary:
            np.savez(temporary, **merged)

    def save_checkpoint(self, path, epoch):
        entries = [{"name": p.name, "data": p} for p in self.net.get_parameters()]
        for prefix, optimizer in zip(OPTIMIZER_PREFIXES, (self.weight_optimizer, self.arch_optimizer)):
            own = {id(p) for p in self.net.get_parameters()}
            entries += [{"name": prefix + p.name, "data": p} for p in optimizer.get_parameters()
                        if id(p) not in own]
        entries += [{"name": key, "data": ms.Tensor(half.astype(np.int32))}
                    for key, half in zip(SPLIT_KEYS, self.split)]
        entries += [{"name": evidence_entry(stream, field), "data": ms.Tensor(np.asarray(getattr(moments, field)))}
                    for stream, moments in self.architect.evidence.items() for field in EVIDENCE_FIELDS]
        meta = {**self.meta(epoch), "path_decode": self.cfg.path_decode}  # decode.py's default, not a resume check
        if self.architect.scored_path:  # decode.py writes it; a resume scores afresh at its next epoch end
            meta["scored_path"] = self.architect.scored_path
        write_checkpoint_atomic(entries, path, append_dict={META_KEY: json.dumps(meta)})
        kill_point("search_checkpoint_saved")

    def meta(self, epoch):
        """What a checkpoint records about the run (and what a resume must match).

        partial_channel changes the maths, so its k is recorded (None otherwise); recompute does
        not, so a run may resume with or without it."""
        keys = ("seed", "num_layers", "filter_multiplier", "block_multiplier", "num_classes",
                "epochs", "batch_size", "crop_size", "move_mixing", "path_search")
        partial_k = self.cfg.partial_channel_k if self.cfg.memory_mode == "partial_channel" else None
        return {"epoch": epoch, "steps_per_epoch": self.steps_per_epoch,
                "stem_channels": self.cfg.stem_channels, "partial_channel_k": partial_k,
                **{key: getattr(self.cfg, key) for key in keys}}

    def resume(self, path):
        ckpt = read_checkpoint(path, "--resume", expect=SEARCH).require(SEARCH, purpose="search.py --resume")
        params = {legacy_stem_head_name(name): value for name, value in ckpt.params.items()}
        meta = ckpt.meta
        expected = self.meta(epoch=meta["epoch"])
        for key, value in expected.items():
            recorded = meta.get(key, META_BEFORE_RECORDED.get(key))
            if recorded != value:
                raise UserError(f"checkpoint {path} was made with {key}={recorded}, this run "
                                f"has {value}; resume with the same settings")
        split = tuple(params.pop(key).asnumpy().astype(np.int64) for key in SPLIT_KEYS)
        self.resume_evidence(params, os.path.dirname(os.path.abspath(path)))
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


LEGACY_CONV_NORM_ACT = re.compile(r"(stem1\.\d|stem2|branch1x1)\.([01])\.")


def legacy_stem_head_name(name):
    """The name a parameter of a search checkpoint written before the stem and head blocks were
    ConvNormAct cells has now: ``stem2.0.weight`` -> ``stem2.conv.weight``, ``stem1.1.1.gamma``
    -> ``stem1.1.bn.gamma`` (other names are unchanged)."""
    return LEGACY_CONV_NORM_ACT.sub(lambda m: m.group(1) + (".conv." if m.group(2) == "0" else ".bn."),
                                    name)


def read_evidence(params, remove=False):
    """{stream: GradientMoments} of a search checkpoint's parameters, None for a checkpoint written
    before they were recorded (or before their outer products were); ``remove``: take every
    evidence entry out of ``params``."""
    names = {stream: [evidence_entry(stream, field) for field in EVIDENCE_FIELDS]
             for stream in EVIDENCE_STREAMS}
    complete = all(name in params for stream_names in names.values() for name in stream_names)
    take = params.pop if remove else params.get
    if remove:
        for stale in [name for name in params if name.startswith("arch_evidence/")
                      and not any(name in stream_names for stream_names in names.values())]:
            del params[stale]
    if not complete:
        return None
    evidence = {}
    for stream, stream_names in names.items():
        count, total, total_outer = (take(name).asnumpy() for name in stream_names)
        evidence[stream] = GradientMoments(int(count), total, total_outer)
    return evidence


def history_evidence(folder, steps):
    """The evidence at each epoch end that ``folder``/arch_history.npz records, up to ``steps``
    architecture steps (a resume's earlier halves; none from a history written before they were
    kept)."""
    path = os.path.join(folder, "arch_history.npz")
    if not os.path.exists(path):
        return []
    history = np.load(path)
    if not all(f"{stream}_{field}" in history for stream in EVIDENCE_STREAMS for field in EVIDENCE_FIELDS):
        return []
    rows = []
    for row in range(len(history["epoch"])):
        counts = [history[f"{stream}_count"][row] for stream in EVIDENCE_STREAMS]
        if np.isfinite(counts).all() and max(counts) <= steps:
            rows.append({stream: GradientMoments(int(history[f"{stream}_count"][row]),
                                                 history[f"{stream}_total"][row],
                                                 history[f"{stream}_total_outer"][row])
                         for stream in EVIDENCE_STREAMS})
    return rows


def halfway_evidence(epoch_evidence, steps):
    """(alpha, beta) moments of the last epoch end at or before half of ``steps`` architecture
    steps (the verdict's ``earlier``), or None."""
    halfway = [(e["alpha"], e["beta"]) for e in epoch_evidence if e["alpha"].count <= steps / 2]
    return halfway[-1] if halfway else None


def log_health(epoch, health, judged):
    """The epoch's search health and the verdict so far, in the log."""
    LOG.info("epoch %d search health: %d architecture steps, |grad alpha| %.3e, |grad beta| %.3e, "
             "entropy softmax(alpha) %.4f per edge, normalised beta %.4f per node", epoch,
             *(health[key] for key in HEALTH_KEYS))
    LOG.info("epoch %d decisions: largest change alpha %.3f beta %.3f since the start; op margins "
             "(softmax) %s; path margin %.3f; %d of %d kept ops parameter-free", epoch,
             health["alpha_change"], health["beta_change"],
             " ".join("%.3f" % m for m in health["op_prob_margin"]), health["path_margin"],
             health["parameter_free_ops"], len(health["op_prob_margin"]))
    LOG.info("epoch %d verdict: %s (evidence z: ops %s, path %.2f; bound %.2f)%s", epoch,
             judged["verdict"], " ".join("%.2f" % z for z in judged["op_z"]), judged["path_z"],
             judged["z_bound"], "" if judged["decided"] else "; " + judged["advice"])


def finite_or_none(value):
    """JSON has no infinity: a z of a decision without an alternative is written as null."""
    return round(float(value), 3) if np.isfinite(value) else None


def verdict_provenance(judged):
    """The verdict as architecture.json records it."""
    return {"verdict": judged["verdict"], "verdict_advice": judged["advice"],
            "evidence": {"op_z": [finite_or_none(z) for z in judged["op_z"]],
                         "path_z": finite_or_none(judged["path_z"]),
                         "z_bound": round(judged["z_bound"], 3), "architecture_steps": judged["steps"],
                         "evidence_path": judged["evidence_path"]}}


SCORED_PATH = ("path: single-path training, then the valid path whose supernet (that path alone) has "
               "the lowest loss on half B")
CELL_DECODE = "cell: per block the 2 edges with the largest non-none op weight, argmax non-none op"


def write_decoded_architecture(path, alphas, betas, provenance, path_decode=DEFAULT_PATH_DECODE, scored_path=None):
    """Decode alpha and the path decode's input ``betas`` (``src.nas.health.path_decode_input``),
    or take the path of ``scored_path`` (path_search single_path: {path, z, scores}), and write the
    (validated, retrainable) architecture file; returns the Architecture: as many cells as the
    supernet has layers, as many blocks as it has. The provenance records the path decode by name
    and by method."""
    if scored_path:
        network_path, path_decode, method = list(scored_path["path"]), "scored", SCORED_PATH
        provenance = {**provenance, "path_scores": scored_path["scores"]}
    else:
        network_path, method = decode_path(betas, path_decode), PATH_DECODES[path_decode]
    architecture = Architecture(network_path, decode_cell(alphas),
                                {**provenance, "path_decode": path_decode, "decode": f"{method}; {CELL_DECODE}"})
    architecture.save(path)
    return architecture


def search(cfg):
    """search.py: set up logging and the device, then run (or resume) the search."""
    from src.data.mindrecord_writer import find_mindrecord

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not cfg.data_path:
        raise UserError("--data_path is required: the folder with cityscapes_train.mindrecord")
    if cfg.distribute:
        raise UserError("the search runs on one device: set distribute false (search.py has no "
                        "data-parallel mode)")
    init_device(cfg)
    # The supernet's Python loop runs eagerly; mode graph compiles each edge shape once.
    ms.set_context(mode=ms.PYNATIVE_MODE)
    trainer = SearchTrainer(cfg, find_mindrecord(cfg.data_path, "train"), cfg.output_path,
                            heldout_mindrecord(cfg.data_path))
    if cfg.resume:
        trainer.resume(cfg.resume)
        LOG.info("resumed from %s at epoch %d", cfg.resume, trainer.start_epoch)
    os.makedirs(cfg.output_path, exist_ok=True)
    with folder_lock(cfg.output_path, "search output folder"):
        remove_stale_temporaries(cfg.output_path)
        with interruption_note(lambda: last_good_checkpoint_note(cfg.output_path)):
            trainer.run()
    return trainer


def heldout_mindrecord(data_path):
    """The val MindRecord of ``data_path`` (the search's held-out images), or None with a note."""
    from src.data.mindrecord_writer import find_mindrecord

    try:
        return find_mindrecord(data_path, "val")
    except UserError as missing:
        LOG.warning("no held-out supernet mIoU: %s", missing)
        return None


def latest_search_checkpoint(output_dir):
    """The newest complete search_epoch<N>.ckpt in ``output_dir``, or None."""
    epochs = sorted(int(name[len("search_epoch"):-len(".ckpt")]) for name in os.listdir(output_dir)
                    if name.startswith("search_epoch") and name.endswith(".ckpt")
                    and name[len("search_epoch"):-len(".ckpt")].isdigit())
    return os.path.join(output_dir, "search_epoch%d.ckpt" % epochs[-1]) if epochs else None


def last_good_checkpoint_note(output_dir):
    """What an interrupted search leaves: its newest complete checkpoint and how to continue."""
    path = latest_search_checkpoint(output_dir)
    if path is None:
        return "no search checkpoint written yet"
    return "last good checkpoint %s; continue with --resume %s" % (path, path)
