"""Where Hearth keeps its data. One place, one override (``HEARTH_HOME``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "Hearth"


def home() -> Path:
    """The per-user data directory, created on first use."""
    override = os.environ.get("HEARTH_HOME")
    if override:
        path = Path(override).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _subdir(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    return _subdir("models")


def chroma_dir() -> Path:
    return _subdir("chroma")


def logs_dir() -> Path:
    return _subdir("logs")


def db_path() -> Path:
    return home() / "hearth.db"


def settings_path() -> Path:
    return home() / "settings.json"


def resources_dir() -> Path:
    """Bundled icons, style sheets and sample texts (also inside a frozen installer)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"
