"""The Hugging Face Hub, as Hearth needs it: GGUF repositories, their files, and whether they fit.

Everything goes through ``huggingface_hub`` (its shared HTTP session honours
``HF_ENDPOINT``, proxies from the environment, ``HF_TOKEN`` / the saved login and
``HF_HUB_OFFLINE``). Hub failures become :class:`HearthError` in plain words; the
local library never needs the Hub.

A repository page lists every GGUF file with its size and LFS sha256, grouped by
quantisation (parsed from the file name); a split model (``-00001-of-00003.gguf``)
is one entry with the summed size. The fit of each file comes from its header,
read remotely with HTTP range requests and cached per (repository, commit, file), so
changing the context length recomputes the verdicts without any network traffic.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import AccessDeniedError, HearthError, OfflineError, OfflineModeError
from desktop_app.core.fit.badges import FitBadge, machine, safe_badge, unknown_badge
from desktop_app.core.models.files import SPLIT_RE
from desktop_app.core.models.gguf_meta import merge_split_headers
from desktop_app.core.units import human_parameters

if TYPE_CHECKING:
    from desktop_app.core.hardware import HardwareInfo
    from desktop_app.core.models.gguf_meta import GGUFInfo

log = logging.getLogger(__name__)

# What `--sort` offers, mapped to the Hub API's sort keys (always descending).
SORTS: dict[str, str] = {"downloads": "downloads", "likes": "likes", "recent": "lastModified"}
DEFAULT_LIMIT = 30
API_TIMEOUT_S = 20.0
_LIST_EXPAND = ["author", "downloads", "likes", "lastModified", "gated", "tags", "pipeline_tag"]

_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_HUB_HOSTS = {"huggingface.co", "www.huggingface.co", "hf.co", "hf-mirror.com"}

# Quantisation labels from smallest to largest; anything else sorts by size after its bit width.
QUANT_ORDER: list[str] = [
    "TQ1_0", "IQ1_S", "IQ1_M", "TQ2_0",
    "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "Q2_K_S", "Q2_K", "Q2_K_L", "Q2_K_XL",
    "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "Q3_K_S", "Q3_K_M", "Q3_K", "Q3_K_L", "Q3_K_XL",
    "IQ4_XS", "IQ4_NL", "Q4_0", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "Q4_1", "Q4_K_S", "Q4_K_M", "Q4_K", "Q4_K_L",
    "Q4_K_XL", "MXFP4", "MXFP4_MOE",
    "Q5_0", "Q5_1", "Q5_K_S", "Q5_K_M", "Q5_K", "Q5_K_L", "Q5_K_XL",
    "Q6_K", "Q6_K_L", "Q6_K_XL", "Q8_0", "Q8_K_XL", "F16", "BF16", "F32",
]  # fmt: skip
_QUANT_RANK = {q: i for i, q in enumerate(QUANT_ORDER)}
_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])(?P<ud>UD-)?(?P<q>I?Q[1-8](?:_[0-9]+)*(?:_K)?(?:_(?:XXS|XS|S|M|L|XL|NL))?"
    r"|TQ[12]_0|MXFP4(?:_MOE)?|BF16|F16|F32)(?![A-Za-z0-9])",
    re.IGNORECASE,
)


# -- where the Hub is ------------------------------------------------------------------------


def endpoint() -> str:
    """The Hub's address: huggingface_hub's ENDPOINT, read from ``HF_ENDPOINT`` at import."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def parse_repo_ref(text: str) -> str | None:
    """``owner/name`` when ``text`` is a repository id or a Hub URL, else None (a search text).

    Accepts ``owner/name``, ``https://huggingface.co/owner/name`` with anything after it
    (``/tree/main``, ``/blob/main/x.gguf``, ``?show_file_info=...``), ``hf.co/owner/name``,
    and URLs on the configured ``HF_ENDPOINT``.
    """
    text = text.strip()
    if not text:
        return None
    if _REPO_ID_RE.match(text) and ".." not in text:
        return text
    candidate = text if "://" in text else f"https://{text}"
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    own = (urlsplit(endpoint()).hostname or "").lower()
    if host not in _HUB_HOSTS and host != own:
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments and segments[0] in ("models",):
        segments = segments[1:]
    if len(segments) < 2 or segments[0] in ("datasets", "spaces", "api", "docs"):
        return None
    repo_id = f"{segments[0]}/{segments[1]}"
    return repo_id if _REPO_ID_RE.match(repo_id) and ".." not in repo_id else None


# -- errors ---------------------------------------------------------------------------------


OFFLINE_MESSAGE = "You are offline or the Hub is unreachable."
OFFLINE_HINT = "Check the internet connection (and any proxy). Your local models still work."


def gated_error(repo_id: str) -> AccessDeniedError:
    return AccessDeniedError(
        f"“{repo_id}” is a gated repository: its files are shared only with people who accept its terms.",
        f"Accept them on {endpoint()}/{repo_id} while signed in there, then sign Hearth in with a token "
        "that has access (Settings › Hugging Face account; or set HF_TOKEN, or run `hf auth login`).",
    )


@contextlib.contextmanager
def hub_errors(repo_id: str = "", filename: str = "") -> Iterator[None]:
    """Turns huggingface_hub / HTTP failures into HearthError in plain words."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"“{filename}” in “{repo_id}”" if filename else f"“{repo_id}”"
    try:
        yield
    except OfflineModeIsEnabled:
        raise OfflineModeError(
            "Hugging Face offline mode is on (HF_HUB_OFFLINE), so Hearth does not contact the Hub.",
            "Unset HF_HUB_OFFLINE to browse and download models. Your local models still work.",
        ) from None
    except GatedRepoError:
        raise gated_error(repo_id) from None
    except RepositoryNotFoundError:
        raise HearthError(
            f"There is no model repository {what} on the Hub, or it is private.",
            "Check the name; for a private repository, set HF_TOKEN to a token that can read it.",
        ) from None
    except RevisionNotFoundError:
        raise HearthError(f"The requested revision of {what} does not exist.") from None
    except RemoteEntryNotFoundError:
        raise HearthError(f"There is no file {what}.", "The repository may have changed; open it again.") from None
    except HFValidationError as exc:
        raise HearthError(f"“{repo_id}” is not a valid repository name ({exc}).") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise gated_error(repo_id) from None
        if status == 429:
            raise HearthError("The Hub is rate-limiting requests (HTTP 429).", "Wait a minute and try again.") from None
        raise HearthError(f"The Hub answered HTTP {status} for {what}.", "Try again later.") from None
    except httpx2.TimeoutException:
        raise HearthError("The Hub did not answer in time.", "Check the connection and try again.") from None
    except (httpx2.TransportError, ConnectionError):
        raise OfflineError(OFFLINE_MESSAGE, OFFLINE_HINT) from None


# -- search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoSummary:
    """One search result."""

    repo_id: str
    author: str
    downloads: int
    likes: int
    last_modified: datetime | None
    gated: bool
    tags: tuple[str, ...] = ()
    pipeline_tag: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "author": self.author,
            "downloads": self.downloads,
            "likes": self.likes,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "gated": self.gated,
            "pipeline_tag": self.pipeline_tag,
        }


def search(
    query: str, sort: str = "downloads", limit: int = DEFAULT_LIMIT, token: str | None = None
) -> list[RepoSummary]:
    """GGUF model repositories matching ``query``, best first by ``sort`` (downloads, likes, recent).

    The request is exactly the one ``HfApi.list_models(search=, filter="gguf", sort=,
    limit=, expand=)`` sends, made once on huggingface_hub's session: list_models
    retries a refused connection five times with back-off (about 23 s) before it
    gives up, and someone offline should hear so at once.
    """
    from huggingface_hub import ModelInfo
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    if sort not in SORTS:
        raise HearthError(f"Unknown sort “{sort}”.", f"Use one of: {', '.join(SORTS)}.")
    params: dict[str, Any] = {"filter": "gguf", "sort": SORTS[sort], "limit": max(1, min(limit, 500))}
    params["expand"] = _LIST_EXPAND
    if query.strip():
        params["search"] = query.strip()
    with hub_errors(query):
        response = get_session().get(
            f"{endpoint()}/api/models",
            params=params,
            headers=build_hf_headers(token=token),
            timeout=API_TIMEOUT_S,
        )
        hf_raise_for_status(response)
        items = response.json()
    results = []
    for item in items[:limit]:
        item.setdefault("siblings", None)
        info = ModelInfo(**item)
        results.append(
            RepoSummary(
                repo_id=info.id,
                author=info.author or info.id.split("/")[0],
                downloads=int(info.downloads or 0),
                likes=int(info.likes or 0),
                last_modified=info.last_modified,
                gated=bool(info.gated),
                tags=tuple(info.tags or ()),
                pipeline_tag=info.pipeline_tag or "",
            )
        )
    return results


# -- a repository's GGUF files ---------------------------------------------------------------


def parse_quant(filename: str) -> str:
    """The quantisation label in a GGUF file name (``Q4_K_M``, ``IQ3_XXS``, ``BF16``...), or "".

    The last label in the name wins (a model called "Q2-chat" stays out of it); an
    Unsloth dynamic quant keeps its ``UD-`` prefix.
    """
    base = filename.rsplit("/", 1)[-1]
    base = re.sub(r"\.gguf$", "", base, flags=re.IGNORECASE)
    split = re.search(r"-\d{5}-of-\d{5}$", base)
    if split:
        base = base[: split.start()]
    matches = list(_QUANT_RE.finditer(base))
    if not matches:
        return ""
    last = matches[-1]
    label = last.group("q").upper()
    return f"UD-{label}" if last.group("ud") else label


def quant_sort_key(quant: str, size: int = 0) -> tuple[float, int, int]:
    """Orders quantisation labels smallest first: the known ladder, then by bit width and size."""
    base = quant.removeprefix("UD-")
    if base in _QUANT_RANK:
        return (float(_QUANT_RANK[base]), 1 if quant.startswith("UD-") else 0, size)
    bits = re.search(r"(\d+)", base)
    if bits is None:
        return (float(len(QUANT_ORDER) + 1), 0, size)
    # Unknown labels sit just after the known ones of the same bit width.
    width = int(bits.group(1))
    after = [i for q, i in _QUANT_RANK.items() if (m := re.search(r"(\d+)", q)) and int(m.group(1)) <= width]
    return ((max(after) if after else 0) + 0.5, 0, size)


def is_projector(filename: str) -> bool:
    """A multimodal projector (``mmproj-*.gguf``) is not a model to chat with on its own."""
    return "mmproj" in filename.rsplit("/", 1)[-1].lower()


@dataclass(frozen=True)
class HubFile:
    """One GGUF file of a repository, as the Hub describes it."""

    path: str  # path in the repository ("rfilename"), already checked to be safe
    size: int
    sha256: str  # the LFS sha256 ("" for a file kept in git, then ``blob_id`` identifies it)
    blob_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "blob_id": self.blob_id}


@dataclass(frozen=True)
class ModelFile:
    """A model as the user sees it: one GGUF file, or every part of a split one."""

    name: str  # the file name, or for a split model its name without the part suffix
    quant: str
    parts: tuple[HubFile, ...]

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def first(self) -> HubFile:
        return self.parts[0]

    @property
    def is_split(self) -> bool:
        return len(self.parts) > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "quant": self.quant,
            "size": self.size,
            "split": self.is_split,
            "files": [p.to_dict() for p in self.parts],
        }


@dataclass(frozen=True)
class QuantGroup:
    quant: str
    models: tuple[ModelFile, ...]


@dataclass
class RepoPage:
    """What the repository page shows: card data and the GGUF models, smallest quant first."""

    repo_id: str
    revision: str  # the commit the listing (and any download from it) is pinned to
    license: str = ""
    base_models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)  # training data its card names (``datasets``)
    parameters: int | None = None
    architecture: str = ""
    context_length: int | None = None
    gated: str = ""  # "" when open; "auto" or "manual" when the files need accepted terms and a token
    downloads: int = 0
    likes: int = 0
    last_modified: datetime | None = None
    pipeline_tag: str = ""
    tags: list[str] = field(default_factory=list)
    models: list[ModelFile] = field(default_factory=list)
    projectors: list[HubFile] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # file names that are not safe as paths

    @property
    def url(self) -> str:
        return f"{endpoint()}/{self.repo_id}"

    def card_facts(self) -> list[str]:
        """The model card in short phrases: size, architecture, trained context, licence."""
        facts = []
        if self.parameters:
            facts.append(f"{human_parameters(self.parameters)} parameters")
        if self.architecture:
            facts.append(self.architecture)
        if self.context_length:
            facts.append(f"trained context {self.context_length:,}")
        if self.license:
            facts.append(f"licence {self.license}")
        return facts

    @property
    def groups(self) -> list[QuantGroup]:
        order: dict[str, list[ModelFile]] = {}
        for model in self.models:
            order.setdefault(model.quant or "other", []).append(model)
        return [QuantGroup(q, tuple(ms)) for q, ms in order.items()]

    @property
    def gated_message(self) -> str:
        if not self.gated:
            return ""
        return str(gated_error(self.repo_id))

    def find(self, spec: str) -> ModelFile:
        """The model named by ``spec``: a file path, a split model's name, or a quant label."""
        wanted = spec.strip()
        for model in self.models:
            if wanted == model.name or any(wanted == p.path for p in model.parts):
                return model
        by_quant = [m for m in self.models if m.quant.lower() == wanted.lower()]
        if len(by_quant) == 1:
            return by_quant[0]
        if wanted in self.refused:
            raise HearthError(f"“{wanted}” is not a safe file name, so Hearth will not download it.")
        if len(by_quant) > 1:
            names = ", ".join(m.name for m in by_quant)
            raise HearthError(f"Several files are {wanted}: {names}.", "Give the file name.")
        raise HearthError(
            f"“{self.repo_id}” has no GGUF file “{spec}”.", f"Run `hearth hub files {self.repo_id}` to list them."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "url": self.url,
            "license": self.license,
            "base_models": self.base_models,
            "datasets": self.datasets,
            "parameters": self.parameters,
            "architecture": self.architecture,
            "context_length": self.context_length,
            "gated": self.gated,
            "downloads": self.downloads,
            "likes": self.likes,
            "last_modified": self.last_modified.isoformat() if self.last_modified else None,
            "models": [m.to_dict() for m in self.models],
            "refused": self.refused,
        }


def group_files(files: Iterable[HubFile]) -> list[ModelFile]:
    """Builds models from files: split parts joined in order, smallest quant first."""
    singles: list[ModelFile] = []
    splits: dict[tuple[str, int], dict[int, HubFile]] = {}
    for f in files:
        match = SPLIT_RE.match(f.path)
        if match:
            key = (match.group("stem"), int(match.group("count")))
            splits.setdefault(key, {})[int(match.group("index"))] = f
        else:
            singles.append(ModelFile(f.path, parse_quant(f.path), (f,)))
    for (stem, count), parts in splits.items():
        if sorted(parts) != list(range(1, count + 1)):
            log.warning("Split model %s is incomplete on the Hub (%d of %d parts); skipped", stem, len(parts), count)
            continue
        ordered = tuple(parts[i] for i in sorted(parts))
        singles.append(ModelFile(f"{stem}.gguf", parse_quant(ordered[0].path), ordered))
    return sorted(singles, key=lambda m: (*quant_sort_key(m.quant, m.size), m.name))


def _card_value(card: Any, key: str) -> Any:
    if card is None:
        return None
    value = getattr(card, key, None)
    if value is None and hasattr(card, "get"):
        value = card.get(key)
    return value


def open_repo(repo: str, revision: str | None = None, token: str | None = None) -> RepoPage:
    """The page of a GGUF repository (an id or a Hub URL): card data and every GGUF model."""
    from huggingface_hub import HfApi

    from desktop_app.core.models.files import unsafe_reason

    repo_id = parse_repo_ref(repo)
    if repo_id is None:
        raise HearthError(f"“{repo}” is not a Hub repository.", "Give it as owner/name or paste its Hub address.")
    with hub_errors(repo_id):
        info = HfApi(endpoint=endpoint()).model_info(
            repo_id, revision=revision, files_metadata=True, token=token, timeout=API_TIMEOUT_S
        )
    files: list[HubFile] = []
    projectors: list[HubFile] = []
    refused: list[str] = []
    for sibling in info.siblings or []:
        name = sibling.rfilename
        if not name.lower().endswith(".gguf"):
            continue
        reason = unsafe_reason(name)
        if reason:
            log.info("Refusing file %r in %s: %s", name, repo_id, reason)
            refused.append(name)
            continue
        lfs = sibling.lfs
        hub_file = HubFile(
            path=name,
            size=int((lfs.size if lfs else sibling.size) or 0),
            sha256=str(lfs.sha256) if lfs else "",
            blob_id=sibling.blob_id or "",
        )
        (projectors if is_projector(name) else files).append(hub_file)

    card = info.card_data
    license_ = _card_value(card, "license") or ""
    if license_ == "other":
        license_ = _card_value(card, "license_name") or "other"
    base = _card_value(card, "base_model") or []
    base_models = [base] if isinstance(base, str) else [str(b) for b in base]
    datasets = _card_value(card, "datasets") or []
    gguf = info.gguf or {}
    parameters = gguf.get("total") or (info.safetensors.total if info.safetensors else None)
    return RepoPage(
        repo_id=info.id or repo_id,
        revision=info.sha or revision or "main",
        license=str(license_),
        base_models=base_models,
        datasets=[datasets] if isinstance(datasets, str) else [str(d) for d in datasets],
        parameters=int(parameters) if parameters else None,
        architecture=str(gguf.get("architecture") or ""),
        context_length=int(gguf["context_length"]) if gguf.get("context_length") else None,
        gated=str(info.gated) if info.gated else "",
        downloads=int(info.downloads or 0),
        likes=int(info.likes or 0),
        last_modified=info.last_modified,
        pipeline_tag=info.pipeline_tag or "",
        tags=list(info.tags or []),
        models=group_files(files),
        projectors=projectors,
        refused=refused,
    )


def file_url(repo_id: str, path: str, revision: str) -> str:
    """The ``resolve`` URL of a file, pinned to ``revision``."""
    from huggingface_hub import hf_hub_url

    return str(hf_hub_url(repo_id, path, revision=revision, endpoint=endpoint()))


def auth_headers(token: str | None = None) -> dict[str, str]:
    """``Authorization`` for the Hub from ``token``, HF_TOKEN or the saved login; {} when none."""
    from huggingface_hub import get_token

    token = token or get_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


# -- fit before download ---------------------------------------------------------------------


class HeaderCache:
    """Remote GGUF headers by (repository, commit, file). Commits never change, so neither do
    the headers: one read per file per session, however often the context length changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str, str], GGUFInfo] = {}

    def get(self, key: tuple[str, str, str]) -> GGUFInfo | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: tuple[str, str, str], info: GGUFInfo) -> None:
        with self._lock:
            self._items[key] = info

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


HEADERS = HeaderCache()


def remote_header(
    repo_id: str,
    revision: str,
    model: ModelFile,
    token: str | None = None,
    cancel: CancelToken | None = None,
    cache: HeaderCache = HEADERS,
) -> GGUFInfo:
    """The header of ``model`` (every part of a split one), read remotely once and cached."""
    from desktop_app.core.models import gguf_meta

    key = (repo_id, revision, model.name)
    cached = cache.get(key)
    if cached is not None:
        return cached
    headers = auth_headers(token)
    infos = []
    for part in model.parts:
        if cancel:
            cancel.raise_if_cancelled()
        url = file_url(repo_id, part.path, revision)
        try:
            infos.append(gguf_meta.read_remote(url, headers=headers))
        except AccessDeniedError:
            raise gated_error(repo_id) from None
        except OfflineModeError:
            raise
        except OfflineError:
            raise OfflineError(OFFLINE_MESSAGE, OFFLINE_HINT) from None
    info = infos[0] if len(infos) == 1 else merge_split_headers(infos)
    cache.put(key, info)
    return info


def badges(
    page: RepoPage,
    n_ctx: int,
    hw: HardwareInfo | None = None,
    token: str | None = None,
    cancel: CancelToken | None = None,
    on_badge: Callable[[ModelFile, FitBadge], None] | None = None,
) -> dict[str, FitBadge]:
    """The fit badge of every model on ``page`` by name; headers come from the cache when known.

    A file whose header cannot be read gets an "unknown" badge with the reason (a gated
    repository without access: every file), except when the Hub is unreachable: that
    stops the listing.
    """
    hw = hw or machine()
    out: dict[str, FitBadge] = {}
    gated_reason = ""
    for model in page.models:
        if cancel:
            cancel.raise_if_cancelled()
        if gated_reason:
            badge = unknown_badge(gated_reason)
        else:
            try:
                info = remote_header(page.repo_id, page.revision, model, token, cancel)
                badge = safe_badge(info, n_ctx, hw)
            except OfflineError:
                raise
            except AccessDeniedError:
                gated_reason = "gated: the header needs accepted terms and a token"
                badge = unknown_badge(gated_reason)
            except HearthError as exc:
                badge = unknown_badge(exc.message)
        out[model.name] = badge
        if on_badge is not None:
            on_badge(model, badge)
    return out


def cached_badge(page: RepoPage, model: ModelFile, n_ctx: int, hw: HardwareInfo | None = None) -> FitBadge | None:
    """The badge from an already-read header (no network), or None when not read yet."""
    info = HEADERS.get((page.repo_id, page.revision, model.name))
    if info is None:
        return None
    return safe_badge(info, n_ctx, hw)
