"""The retraining run behind train.py: set-up, resume, one Model.train call for the run, outputs.

Why one ``Model.train`` call: data sink mode compiles one sink network per dataset object, so the
run's batches come as one pipeline (``src.train.data``, in an order that a resumed run starts
mid-way) and the per-epoch work (summary, validation) runs in the step callbacks at epoch ends.
"""
import hashlib
import logging
import os
import sys

import yaml

from src.device import device_of, init_device, use_sync_bn
from src.errors import UserError, interruption_note
from src.fileio import atomic_write, check_output_location, folder_lock, remove_stale_temporaries
from src.model.loading import with_checkpoint_network
from src.modelarts import prepare_inputs, upload_outputs

LOG = logging.getLogger("autodeeplab.train")


def _setup_logging(rank_id, rank_size):
    prefix = "[rank %d] " % rank_id if rank_size > 1 else ""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, force=True,
                        format="%(asctime)s " + prefix + "%(message)s", datefmt="%H:%M:%S")


def _save_config(cfg, directory):
    with atomic_write(os.path.join(directory, "train_config.yaml")) as f:
        yaml.safe_dump(cfg.to_dict(), f, sort_keys=True)


def train(cfg):
    """Run training as configured; ModelArts inputs are fetched first and outputs uploaded after."""
    from src.train.checkpoint import CKPT_DIR

    rank_id, rank_size = init_device(cfg)
    _setup_logging(rank_id, rank_size)
    cfg = prepare_inputs(cfg, rank_id)
    cfg = with_checkpoint_network(cfg, cfg.resume, "--resume")  # the network of the run it continues
    output = check_output_location(cfg.output_path, "folder", "--output_path")
    os.makedirs(output, exist_ok=True)
    try:
        if rank_id != 0:
            return _train(cfg, rank_id, rank_size)
        with folder_lock(output):
            for folder in (output, os.path.join(output, CKPT_DIR)):
                remove_stale_temporaries(folder)
            return _train(cfg, rank_id, rank_size)
    finally:
        upload_outputs(cfg, rank_id)


def _claim_checkpoint_folder(cfg, directory, is_writer):
    """Refuse a folder holding another run's checkpoints unless --resume or --overwrite says what to do."""
    from src.train.checkpoint import list_checkpoints

    found = list_checkpoints(directory)
    if not found or cfg.resume:
        return
    if not cfg.overwrite:
        raise UserError("'%s' holds checkpoints of another run (newest %s): pass --resume %s to continue it, "
                        "--overwrite true to start over (removes them), or another --output_path"
                        % (directory, os.path.basename(found[-1][1]), found[-1][1]))
    if is_writer:
        for _, path in found:
            os.remove(path)
        LOG.info("--overwrite: removed %d checkpoint(s) of the previous run in %s", len(found), directory)


def last_good_note(checkpoint_dir, resumed_from):
    """What an interrupted run leaves: the newest complete checkpoint (written atomically, so any
    on disk is whole) and how to continue from it."""
    from src.train.checkpoint import list_checkpoints

    found = list_checkpoints(checkpoint_dir)
    checkpoint = found[-1][1] if found else resumed_from
    if not checkpoint:
        return "no checkpoint was written yet; run again to start over"
    return "last good checkpoint %s; continue with --resume %s" % (checkpoint, checkpoint)


def weights_digest(net):
    """SHA-1 of the trainable weights: data-parallel ranks must print the same value."""
    digest = hashlib.sha1()
    for param in net.trainable_params():
        digest.update(param.name.encode())
        digest.update(param.asnumpy().tobytes())
    return digest.hexdigest()


def _warn_untrained_aspp_taps(cfg, network_path):
    """A crop too small for the ASPP rates leaves taps that training never reaches but a full
    image at evaluation does: say so before the run, not after a poor score."""
    from src.model.aspp import aspp_input_size, rates_without_data

    size = aspp_input_size(network_path, cfg.crop_size, cfg.crop_size)
    unseen = rates_without_data(cfg.aspp_rates, size)
    if unseen:
        LOG.warning("aspp_rates %s at crop %d: the ASPP input is %dx%d, so the off-centre taps of "
                    "rate(s) %s only see zero padding in training and keep their initial weights, "
                    "while evaluation on full images uses them; use rates below %d for this crop "
                    "(the rates scale with the features: DeepLab's 6/12/18 are for 33x33, a 513 crop "
                    "at output stride 16)", list(cfg.aspp_rates), cfg.crop_size, size[0], size[1],
                    unseen, min(size))


def _recalibrate_last_checkpoint(cfg, net, train_network, mindrecord, state, meta, checkpoint_dir):
    """Re-estimate the BN running statistics (src.train.bn_recalibration) on a copy of the network
    without SyncBN (this rank alone), put them into ``net`` and rewrite the last checkpoint."""
    import mindspore as ms

    from src.model import build_model
    from src.train.bn_recalibration import recalibrate_as_configured
    from src.train.checkpoint import save_train_checkpoint

    plain = build_model(cfg, use_sync_bn=False)
    trained = {param.name: param for param in net.get_parameters()}
    ms.load_param_into_net(plain, trained, strict_load=True)
    recalibrate_as_configured(plain, cfg, mindrecord)
    for param in plain.get_parameters():
        if param.name.endswith(("moving_mean", "moving_variance")):
            trained[param.name].set_data(param.data)
    state.last_checkpoint = save_train_checkpoint(train_network, checkpoint_dir, state.step,
                                                  state.checkpoint_meta(meta), cfg.keep_checkpoint_max)
    LOG.info("rewrote %s with the re-estimated BN statistics", state.last_checkpoint)


def _train(cfg, rank_id, rank_size):
    from mindspore.train import Model

    from src.data.mindrecord_writer import find_mindrecord
    from src.model import build_model
    from src.model.weights import checkpoint_meta, load_weights
    from src.train.callbacks import RunState, training_callbacks
    from src.train.checkpoint import CKPT_DIR, resume_train_state
    from src.train.data import record_size, run_dataset, steps_per_epoch, write_samples_log
    from src.train.loss import build_loss
    from src.train.lr import lr_schedule
    from src.train.optimizer import build_optimizer
    from src.train.precision import loss_scale_manager
    from src.train.progress_log import ProgressLog
    from src.train.sink import sink_plan
    from src.train.validation import PeriodicValidation

    if not cfg.data_path:
        raise UserError("no training data: pass --data_path with the folder of cityscapes_train.mindrecord "
                        "(written by build_mindrecord.py)")
    mindrecord = find_mindrecord(cfg.data_path, "train")
    if cfg.eval_interval:
        find_mindrecord(cfg.data_path, "val")  # before training, not at the first validation
    output = os.path.abspath(cfg.output_path)
    is_writer = rank_id == 0
    checkpoint_dir = os.path.join(output, CKPT_DIR)
    _claim_checkpoint_folder(cfg, checkpoint_dir, is_writer)

    net = build_model(cfg, use_sync_bn=use_sync_bn(cfg))
    _warn_untrained_aspp_taps(cfg, net.architecture.network_path)
    meta = checkpoint_meta(cfg, net.architecture)
    num_rows = record_size(mindrecord)
    per_epoch = steps_per_epoch(cfg, mindrecord, num_rows, rank_size)
    total_steps = cfg.epochs * per_epoch
    learning_rates = lr_schedule(cfg, total_steps)
    model = Model(net, loss_fn=build_loss(cfg), optimizer=build_optimizer(net, learning_rates, cfg),
                  loss_scale_manager=loss_scale_manager(cfg), amp_level=cfg.amp_level)

    start_step = 0
    if cfg.pretrained_ckpt and not cfg.resume:
        load_weights(net, cfg.pretrained_ckpt, strict=True, expected=meta, variant=cfg.variant)
        LOG.info("initial weights from %s", cfg.pretrained_ckpt)
    if cfg.resume:
        start_step = resume_train_state(model.train_network, net, cfg.resume, meta, per_epoch)
        if start_step >= total_steps:
            raise UserError("'%s' is already at step %d of %d; raise --epochs to train further"
                            % (cfg.resume, start_step, total_steps))
        LOG.info("resumed from %s at step %d (epoch %d), lr %.3e", cfg.resume, start_step,
                 start_step // per_epoch + 1, learning_rates[start_step])

    state = RunState(start_step, total_steps, per_epoch, learning_rates, cfg.batch_size * rank_size)
    progress_log = ProgressLog(output, start_step) if is_writer else None
    recalibrating = bool(cfg.bn_recalibration_images) and is_writer
    validation = (PeriodicValidation(cfg, net, output, progress_log, meta)
                  if is_writer and cfg.eval_interval else None)
    callbacks = training_callbacks(state, net, cfg.log_interval, progress_log, checkpoint_dir, meta,
                                   cfg.save_checkpoint_steps, cfg.keep_checkpoint_max, is_writer, validation,
                                   final_validation_later=recalibrating)
    plan = sink_plan(cfg.dataset_sink_mode, device_of(cfg), per_epoch, cfg.save_checkpoint_steps, start_step)
    if is_writer:
        _save_config(cfg, output)
    LOG.info("training %d epochs x %d steps (batch %d per device, %d device(s)) from step %d; outputs in %s",
             cfg.epochs, per_epoch, cfg.batch_size, rank_size, start_step, output)
    if cfg.log_samples:
        write_samples_log(os.path.join(output, "samples_rank%d.txt" % rank_id), cfg, mindrecord, num_rows, start_step, total_steps, per_epoch, rank_id,
                          rank_size)
    dataset = run_dataset(cfg, mindrecord, num_rows, start_step, total_steps, per_epoch, rank_id, rank_size)
    with interruption_note(lambda: last_good_note(checkpoint_dir, cfg.resume)):
        plan.train(model, dataset, total_steps - start_step, callbacks)
        if recalibrating:
            _recalibrate_last_checkpoint(cfg, net, model.train_network, mindrecord, state, meta, checkpoint_dir)
            if validation:  # the final network is the recalibrated one
                validation.run(state, model.train_network)
    if progress_log:
        progress_log.plot()
    LOG.info("training finished at step %d; last checkpoint %s", state.step, state.last_checkpoint)
    LOG.info("trainable weights sha1 %s", weights_digest(net))
    return state.last_checkpoint
