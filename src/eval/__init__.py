"""Evaluation: confusion-matrix scores and flip / multi-scale / sliding-window inference."""
