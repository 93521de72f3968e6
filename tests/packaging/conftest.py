"""The packaging tools (packaging/*.py) are scripts, not a package: PyPI's `packaging` owns that
name, so they are imported from their folder."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
sys.path.insert(0, str(PACKAGING))
