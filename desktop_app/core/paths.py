"""Where Hearth keeps its data. One place, one override (``HEARTH_HOME``)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

APP_NAME = "Hearth"
POINTER_FILE = "data-folder.json"


def home() -> Path:
    """The per-user data directory, created on first use: ``HEARTH_HOME``, else the folder the
    user moved it to in Settings (``core/data_folder.py``), else the platform's usual place."""
    path = home_path()
    make_private_dir(path)
    return path


def home_path() -> Path:
    """Where the data folder is, without creating it."""
    override = os.environ.get("HEARTH_HOME")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return chosen_folder() or Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def make_private_dir(path: Path) -> None:
    """Creates ``path`` (and its parents) readable by its owner only: conversations, the API
    request log and keys are nobody else's business. A folder this user owns is tightened too."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        try:
            info = path.stat()
            if info.st_mode & 0o077 and info.st_uid == os.getuid():
                path.chmod(0o700)
        except OSError:
            pass


def pointer_path() -> Path:
    """Where the data folder chosen in Settings is written down: the config folder, which does not move."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / POINTER_FILE


def chosen_folder() -> Path | None:
    """The folder the user moved the data to, or None (the default place)."""
    try:
        data = json.loads(pointer_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    folder = data.get("home") if isinstance(data, dict) else None
    return Path(folder) if isinstance(folder, str) and folder else None


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
