"""Retraining: loss, learning-rate schedule, optimizer, checkpoints, callbacks and the training loop."""
