"""Read a GGUF file's header (metadata and tensor table) without its weights.

The parser reads from a ``read(n)`` callable, so the same code serves a local file
and the first megabytes of a remote one fetched by HTTP range requests: when the
bytes run out it raises :class:`NeedMoreBytes` and the caller fetches a larger range.
Type sizes and enum names come from the ``gguf`` package (llama.cpp's own).
"""

from __future__ import annotations

import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import AccessDeniedError, HearthError, ModelLoadError, OfflineError, OfflineModeError

GGUF_MAGIC = b"GGUF"
# Arrays longer than this are skipped (e.g. the tokenizer's vocabulary): only their length is kept.
_MAX_KEPT_ARRAY = 4096

# GGUF value types (gguf.GGUFValueType), with struct formats for the fixed-size ones.
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")


class NeedMoreBytes(Exception):  # noqa: N818 - a signal to the caller, not an error
    """The header continues past the bytes available so far."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    n_bytes: int

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def type_name(self) -> str:
        return _ggml_type_name(self.ggml_type)


@dataclass
class GGUFInfo:
    """What Hearth needs to know about a model before loading it."""

    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(default_factory=list)
    header_bytes: int = 0
    data_offset: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    def arch_get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(f"{self.architecture}.{key}", default)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", "") or "")

    @property
    def context_length(self) -> int:
        return int(self.arch_get("context_length", 0) or 0)

    @property
    def n_layers(self) -> int:
        return int(self.arch_get("block_count", 0) or 0)

    @property
    def n_heads(self) -> int:
        return _first_int(self.arch_get("attention.head_count", 0))

    @property
    def n_kv_heads(self) -> int:
        return _first_int(self.arch_get("attention.head_count_kv", 0)) or self.n_heads

    @property
    def embedding_length(self) -> int:
        return int(self.arch_get("embedding_length", 0) or 0)

    @property
    def chat_template(self) -> str | None:
        template = self.metadata.get("tokenizer.chat_template")
        return str(template) if template else None

    @property
    def n_params(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    @property
    def weights_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def expected_file_size(self) -> int:
        """Where the last tensor ends: a shorter file is truncated."""
        if not self.tensors:
            return self.data_offset
        return self.data_offset + max(t.offset + t.n_bytes for t in self.tensors)

    @property
    def quant(self) -> str:
        """The quantisation label users know (Q4_K_M, Q8_0, F16...)."""
        file_type = self.metadata.get("general.file_type")
        if file_type is not None:
            label = _file_type_name(int(file_type))
            if label:
                return label
        # No file type recorded: the most common type among the layer weights.
        counts = Counter(t.type_name for t in self.tensors if t.name.startswith("blk.") and len(t.shape) > 1)
        return counts.most_common(1)[0][0] if counts else "unknown"

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "architecture": self.architecture,
            "quant": self.quant,
            "parameters": self.n_params,
            "context_length": self.context_length,
            "layers": self.n_layers,
            "heads": self.n_heads,
            "kv_heads": self.n_kv_heads,
            "embedding_length": self.embedding_length,
            "has_chat_template": self.chat_template is not None,
        }


def _first_int(value: Any) -> int:
    if isinstance(value, list):
        return int(max(value)) if value else 0
    return int(value or 0)


def _ggml_type_name(ggml_type: int) -> str:
    from gguf import GGMLQuantizationType

    try:
        return GGMLQuantizationType(ggml_type).name
    except ValueError:
        return f"type{ggml_type}"


def _file_type_name(file_type: int) -> str | None:
    from gguf import LlamaFileType

    try:
        name = LlamaFileType(file_type).name
    except ValueError:
        return None
    for prefix in ("MOSTLY_", "ALL_"):
        name = name.removeprefix(prefix)
    return name


def _tensor_bytes(shape: tuple[int, ...], ggml_type: int) -> int:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    n = 1
    for d in shape:
        n *= d
    try:
        block_size, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (KeyError, ValueError):
        return 0
    return n // block_size * type_size


class _Reader:
    """Reads through a buffer filled in large blocks: a tokenizer's vocabulary is hundreds of
    thousands of tiny strings, and one ``read`` call per string made parsing take seconds."""

    _BLOCK = 1 << 20

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self._buf = b""
        self._off = 0
        self.pos = 0

    def _ensure(self, n: int) -> None:
        if len(self._buf) - self._off >= n:
            return
        parts = [self._buf[self._off :]]
        have = len(parts[0])
        while have < n:
            chunk = self._read(max(n - have, self._BLOCK))
            if not chunk:
                raise NeedMoreBytes
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        self._off = 0

    def take(self, n: int) -> bytes:
        self._ensure(n)
        data = self._buf[self._off : self._off + n]
        self._off += n
        self.pos += n
        return data

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self._ensure(size)
        value = struct.unpack_from(fmt, self._buf, self._off)[0]
        self._off += size
        self.pos += size
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        if length > 1 << 30:
            raise ValueError("implausible string length")
        return self.take(length).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        """Skips ``count`` strings without decoding them (the hot loop of header parsing)."""
        unpack_from = _U64.unpack_from
        remaining = count
        while remaining:
            self._ensure(8)
            buf, off, end = self._buf, self._off, len(self._buf)
            start = off
            # Fast path: walk the strings that lie wholly inside the buffer.
            while remaining and off + 8 <= end:
                length = unpack_from(buf, off)[0]
                if off + 8 + length > end:
                    break
                off += 8 + length
                remaining -= 1
            self.pos += off - start
            self._off = off
            if remaining and off + 8 <= end:  # a string straddles the buffer's end
                length = self.unpack("<Q")
                if length > 1 << 30:
                    raise ValueError("implausible string length")
                self.take(length)
                remaining -= 1

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.unpack("<I")
            count = self.unpack("<Q")
            if item_type in _SCALARS:
                fmt = _SCALARS[item_type]
                raw = self.take(struct.calcsize(fmt) * count)
                if count > _MAX_KEPT_ARRAY:
                    return _SkippedArray(count)
                return list(struct.unpack(f"<{count}{fmt[1]}", raw))
            if item_type == _STRING and count > _MAX_KEPT_ARRAY:
                self.skip_strings(count)
                return _SkippedArray(count)
            items = [self.value(item_type) for _ in range(count)]
            return items if count <= _MAX_KEPT_ARRAY else _SkippedArray(count)
        raise ValueError(f"unknown GGUF value type {vtype}")


@dataclass(frozen=True)
class _SkippedArray:
    length: int

    def __len__(self) -> int:
        return self.length


def parse_header(read: Callable[[int], bytes]) -> GGUFInfo:
    """Parses a GGUF header from ``read``. Raises NeedMoreBytes or ValueError."""
    r = _Reader(read)
    if r.take(4) != GGUF_MAGIC:
        raise ValueError("not a GGUF file")
    version = r.unpack("<I")
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors = r.unpack("<Q")
    n_kv = r.unpack("<Q")
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ValueError("implausible GGUF header")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string()
        metadata[key] = r.value(r.unpack("<I"))
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.unpack("<I")
        shape = tuple(r.unpack("<Q") for _ in range(n_dims))
        ggml_type = r.unpack("<I")
        offset = r.unpack("<Q")
        tensors.append(TensorInfo(name, shape, ggml_type, offset, _tensor_bytes(shape, ggml_type)))
    alignment = int(metadata.get("general.alignment", 32) or 32)
    data_offset = (r.pos + alignment - 1) // alignment * alignment
    return GGUFInfo(version, metadata, tensors, header_bytes=r.pos, data_offset=data_offset)


_local_cache: dict[tuple[str, int, int], GGUFInfo] = {}
_local_cache_lock = threading.Lock()


def read_local(path: str | Path) -> GGUFInfo:
    """Reads a local file's header and checks the file is whole.

    Cached by (path, size, mtime): the library, the loader and the fit check all ask for
    the same headers, and a large vocabulary takes a noticeable fraction of a second to
    parse. Raises ModelLoadError with a plain-words message for an empty, non-GGUF or
    truncated file (failures are not cached).
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelLoadError(f"Cannot read “{path.name}”: {exc.strerror or exc}.") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _local_cache_lock:
        cached = _local_cache.get(key)
    if cached is None:
        cached = _read_local(path, stat.st_size)
        with _local_cache_lock:
            _local_cache[key] = cached
    return cached


def _read_local(path: Path, size: int) -> GGUFInfo:
    try:
        if size == 0:
            raise ModelLoadError(f"“{path.name}” is empty.", "Download it again or pick another file.")
        with path.open("rb") as fh:
            info = parse_header(fh.read)
    except NeedMoreBytes:
        raise ModelLoadError(
            f"“{path.name}” ends in the middle of its header: the file is incomplete.",
            "It may be a partial download; download it again.",
        ) from None
    except ValueError as exc:
        raise ModelLoadError(
            f"“{path.name}” is not a GGUF model file ({exc}).", "Hearth runs models in the GGUF format."
        ) from None
    except OSError as exc:
        raise ModelLoadError(f"Cannot read “{path.name}”: {exc.strerror or exc}.") from None
    if size < info.expected_file_size:
        raise ModelLoadError(
            f"“{path.name}” is truncated: {size:,} of {info.expected_file_size:,} bytes are present.",
            "It may be a partial download; download it again.",
        )
    return info


# -- remote headers ----------------------------------------------------------------------------
#
# A Hub file's header is read with HTTP range requests of its first megabytes: 2 MiB
# first, doubled while the header runs on (a big vocabulary can take several MiB), and
# never more than REMOTE_MAX_BYTES. Each request asks only for the bytes not yet held.

REMOTE_INITIAL_BYTES = 2 * 1024 * 1024
REMOTE_MAX_BYTES = 64 * 1024 * 1024
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def hub_file_url(repo_id: str, filename: str, revision: str = "main", endpoint: str | None = None) -> str:
    """The download ("resolve") URL of a file in a Hub model repository.

    ``endpoint`` defaults to huggingface_hub's ENDPOINT, which honours ``HF_ENDPOINT``
    (a mirror, or a test server); the result is
    ``{endpoint}/{repo_id}/resolve/{revision}/{filename}`` with the parts URL-quoted.
    """
    from urllib.parse import quote

    from huggingface_hub import constants

    base = (endpoint or constants.ENDPOINT).rstrip("/")
    return f"{base}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"


def hub_auth_headers(token: str | None = None) -> dict[str, str]:
    """``Authorization`` for the Hub: ``token``, else HF_TOKEN / the saved login; {} when none."""
    if token is None:
        from huggingface_hub import get_token

        token = get_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def read_hub(
    repo_id: str,
    filename: str,
    revision: str = "main",
    token: str | None = None,
    cancel: CancelToken | None = None,
) -> GGUFInfo:
    """The header of ``filename`` in a Hub repository, read without downloading the file.

    Sends ``token`` (default: HF_TOKEN or the saved login) so that gated repositories
    the user has accepted work. Raises HearthError in plain words (see read_remote).
    """
    return read_remote(hub_file_url(repo_id, filename, revision), hub_auth_headers(token), cancel=cancel)


def read_remote(
    url: str,
    headers: dict[str, str] | None = None,
    initial_bytes: int = REMOTE_INITIAL_BYTES,
    *,
    max_bytes: int = REMOTE_MAX_BYTES,
    timeout: float = 30.0,
    cancel: CancelToken | None = None,
) -> GGUFInfo:
    """Reads the header of the GGUF file at ``url`` with HTTP range requests.

    Redirects are followed (the Hub answers with a redirect to its CDN; httpx drops the
    ``Authorization`` header when a redirect leaves the original host). ``headers`` are
    sent as given: pass :func:`hub_auth_headers` for a gated Hub repository. A server
    that ignores ``Range`` still works: the body is read only as far as needed.

    Raises HearthError: gated or private (401/403), not found (404), offline or
    unreachable, not a GGUF file, or a header longer than ``max_bytes``;
    Cancelled when ``cancel`` fires between requests.
    """
    import httpx

    name = _url_name(url)
    _check_offline_mode(url)
    buffer = bytearray()
    want = max(1024, initial_bytes)
    eof = False
    try:
        with httpx.Client(follow_redirects=True, timeout=timeout, headers=headers or {}) as client:
            while True:
                if cancel:
                    cancel.raise_if_cancelled()
                if not eof and len(buffer) < want:
                    eof = _fetch_range(client, url, name, buffer, want)
                try:
                    info = parse_header(_BufferReader(bytes(buffer)).read)
                except NeedMoreBytes:
                    if eof:
                        raise ModelLoadError(
                            f"“{name}” ends in the middle of its header: the file on the server is incomplete.",
                            "Pick another file from the repository.",
                        ) from None
                    if want >= max_bytes:
                        raise HearthError(
                            f"“{name}” has a header larger than {max_bytes // (1024 * 1024)} MiB; Hearth stops "
                            "reading there.",
                            "Download the file to see its details.",
                        ) from None
                    want = min(want * 2, max_bytes)
                    continue
                except ValueError as exc:
                    raise ModelLoadError(
                        f"“{name}” is not a GGUF model file ({exc}).", "Hearth runs models in the GGUF format."
                    ) from None
                return info
    except httpx.TimeoutException:
        raise HearthError(
            f"The server did not answer in time while reading “{name}”.", "Check the connection and try again."
        ) from None
    except httpx.TransportError as exc:
        host = httpx.URL(url).host
        raise OfflineError(
            f"Cannot reach {host}: this computer seems to be offline, or the server is unreachable ({exc}).",
            "Check the internet connection (and any proxy) and try again.",
        ) from None


class _BufferReader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, n: int) -> bytes:
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


def _fetch_range(client: Any, url: str, name: str, buffer: bytearray, want: int) -> bool:
    """Appends bytes [len(buffer), want) of ``url`` to ``buffer``; True when the file ended first."""
    start = len(buffer)
    with client.stream("GET", url, headers={"Range": f"bytes={start}-{want - 1}"}) as response:
        status = response.status_code
        if status == 416:  # the range starts past the end of the file
            return True
        _raise_for_status(status, name)
        skip = start if status == 200 else 0  # 200: the server ignored Range and sends from byte 0
        for chunk in response.iter_bytes():
            if skip:
                dropped = min(skip, len(chunk))
                chunk = chunk[dropped:]
                skip -= dropped
            buffer.extend(chunk[: want - len(buffer)])
            if len(buffer) >= want:
                return False
    return True


def _raise_for_status(status: int, name: str) -> None:
    if status in (200, 206):
        return
    if status in (401, 403):
        raise AccessDeniedError(
            f"“{name}” is in a gated or private repository: the Hub refused access (HTTP {status}).",
            "Accept the model's terms on its Hugging Face page, then set a token (HF_TOKEN, or "
            "`hf auth login`) with access to it.",
        )
    if status == 404:
        raise HearthError(f"“{name}” was not found on the server (HTTP 404).", "The file may have been renamed.")
    if status == 429:
        raise HearthError("The Hub is rate-limiting requests (HTTP 429).", "Wait a minute and try again.")
    raise HearthError(f"The server answered HTTP {status} for “{name}”.", "Try again later.")


def _url_name(url: str) -> str:
    from urllib.parse import unquote, urlsplit

    path = urlsplit(url).path
    return unquote(path.rsplit("/", 1)[-1]) or url


def _check_offline_mode(url: str) -> None:
    """HF_HUB_OFFLINE means no network; a server on this computer (loopback) is still fine."""
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    host = (urlsplit(url).hostname or "").lower()
    if constants.HF_HUB_OFFLINE and host not in _LOOPBACK_HOSTS:
        raise OfflineModeError(
            "Hugging Face offline mode is on (HF_HUB_OFFLINE), so Hearth does not read files on the Hub.",
            "Unset HF_HUB_OFFLINE to browse models online.",
        )


def merge_split_headers(infos: list[GGUFInfo]) -> GGUFInfo:
    """One header for a split model: the first part's metadata with every part's tensors."""
    first = infos[0]
    tensors = [t for info in infos for t in info.tensors]
    return GGUFInfo(first.version, first.metadata, tensors, first.header_bytes, first.data_offset)
