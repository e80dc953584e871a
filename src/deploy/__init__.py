"""Deployment: export to MINDIR/ONNX/AIR and one predictor over checkpoints, MINDIR and ONNX."""
