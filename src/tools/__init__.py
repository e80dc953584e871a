"""Command-line tools: model statistics and other utilities."""
