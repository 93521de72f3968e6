"""Hearth's benchmarks: `python -m benchmarks.run` writes JSON."""
