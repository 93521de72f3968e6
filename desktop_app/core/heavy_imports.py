"""Large libraries imported by one thread at a time.

The local server (FastAPI, pydantic) can start on its helper thread while the Documents worker
opens Chroma (pydantic again) on another. Python's import locks resolve two threads importing
each other's modules in a cycle by handing one of them a module still half made, and
``from pydantic import X`` then fails with "partially initialized module" — seen once here as a
server that would not start. Code that first imports such a library off the GUI thread asks for
it here; a library already imported costs a dictionary lookup.
"""

from __future__ import annotations

import importlib
import sys
import threading

_LOCK = threading.Lock()


def import_heavy(*names: str) -> None:
    """Imports ``names`` (in order) unless they are imported already, one thread at a time."""
    if all(_ready(name) for name in names):
        return
    with _LOCK:
        for name in names:
            importlib.import_module(name)


def _ready(name: str) -> bool:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)
