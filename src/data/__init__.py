"""Cityscapes data: label table, file discovery, MindRecord conversion, pipelines, demo data."""
