"""One Hub file's bytes, streamed into a partial file that survives a pause, a dropped
connection or a restart, checked against the Hub's hash, and moved into place.

Why not ``hf_hub_download`` for the bytes: huggingface_hub 2.x writes each download
to a process-unique temporary file that it deletes when the download fails or is
interrupted, so nothing survives a pause or a restart, and the only way to stop it
is to raise from a progress callback. Hearth uses huggingface_hub for everything
around the bytes (URLs, the HEAD metadata with the CDN location, commit and size,
its HTTP session with proxies and offline mode, token headers, errors, and the
cache layout) and streams the bytes itself, with HTTP ``Range`` from what the partial
file holds, so pause, cancel, resume and progress are exact. For the shared cache the
verified file is moved to ``blobs/<sha256>`` and ``hf_hub_download`` then creates the
snapshot entry as it does for its own downloads (it finds the blob and transfers nothing).

The queue (``downloads.py``) decides what to download, where, and what a stop means; this
module only moves bytes, and reports them through callbacks.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from desktop_app.core.cancel import Progress, ProgressCallback
from desktop_app.core.errors import DiskFullError, HearthError
from desktop_app.core.models.files import check_disk_space, hf_cache_dir, write_sidecar
from desktop_app.core.units import human_bytes

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
SPEED_WINDOW_S = 5.0
READ_TIMEOUT_S = 60.0


class RemoteFile(Protocol):
    """What a transfer needs to know of a queued file (a ``DownloadItem`` is one)."""

    @property
    def repo_id(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def revision(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def blob_id(self) -> str: ...
    @property
    def to_hf_cache(self) -> bool: ...
    @property
    def model_name(self) -> str: ...
    @property
    def name(self) -> str: ...


class Transfer:
    """Downloads one file into ``partial`` on the calling thread.

    ``check_stop`` raises ``Cancelled`` when the user stopped it (checked between chunks);
    ``wait(seconds)`` sleeps before a retry (and returns early on a stop); ``on_bytes(done,
    speed)`` hears every chunk; ``on_verifying()`` is called once all bytes are there.
    """

    def __init__(
        self,
        file: RemoteFile,
        partial: Path,
        *,
        check_stop: Callable[[], None],
        wait: Callable[[float], object],
        retry_delays: tuple[float, ...],
        on_bytes: Callable[[int, float], None],
        on_verifying: Callable[[], None],
        progress: ProgressCallback | None = None,
    ) -> None:
        self.file = file
        self.partial = partial
        self._check_stop = check_stop
        self._wait = wait
        self._retry_delays = retry_delays
        self._on_bytes = on_bytes
        self._on_verifying = on_verifying
        self._progress = progress

    def run(self) -> str:
        """Fetches what the partial file lacks and returns the verified digest (the file is
        deleted when it does not match the Hub's hash)."""
        import httpx2
        from huggingface_hub import get_hf_file_metadata

        from desktop_app.core.hub import client as hub_client

        item, partial = self.file, self.partial
        partial.parent.mkdir(parents=True, exist_ok=True)
        have = partial.stat().st_size if partial.exists() else 0
        if have > item.size:
            partial.unlink()
            have = 0
        check_disk_space(partial.parent, item.size - have, item.name)

        # HEAD through huggingface_hub: the commit, the size and where the bytes are (the CDN).
        url = hub_client.file_url(item.repo_id, item.filename, item.revision)
        with hub_client.hub_errors(item.repo_id, item.filename):
            meta = get_hf_file_metadata(url, token=None, timeout=hub_client.API_TIMEOUT_S)
        if meta.size is not None and meta.size != item.size:
            raise HearthError(
                f"The Hub now reports {meta.size:,} bytes for “{item.name}”, not the {item.size:,} listed.",
                "Open the repository again and restart the download.",
            )
        if meta.commit_hash and meta.commit_hash != item.revision:
            log.info("%s: commit %s (queued at %s)", item.filename, meta.commit_hash, item.revision)
        headers = hub_client.auth_headers() if _same_origin(url, meta.location) else {}

        hasher = _Hasher(item)
        if have:
            self._hash_existing(have, hasher)
        meter = _Meter()
        attempt = 0
        while have < item.size:
            self._check_stop()
            try:
                have = self._stream(meta.location, headers, have, hasher, meter)
                attempt = 0 if have else attempt
            except _Restart:
                have = 0
                hasher.reset()
            except httpx2.TransportError as exc:
                have = partial.stat().st_size if partial.exists() else 0
                if attempt >= len(self._retry_delays):
                    raise HearthError(
                        f"The download of “{item.name}” was interrupted ({_describe(exc)}).",
                        "Resume it to continue where it stopped.",
                    ) from None
                log.info("Download of %s interrupted (%s); resuming at %d", item.filename, exc, have)
                self._wait(self._retry_delays[attempt])
                attempt += 1

        # Verify before the file takes its place.
        self._on_verifying()
        digest = hasher.hexdigest()
        if hasher.expected and digest != hasher.expected:
            partial.unlink(missing_ok=True)
            raise HearthError(
                f"“{item.name}” arrived damaged: its {hasher.kind} does not match the Hub's, so it was deleted.",
                "Download it again; if it keeps failing, the connection or a proxy is altering the file.",
            )
        return digest

    def _hash_existing(self, have: int, hasher: _Hasher) -> None:
        """Feeds the bytes downloaded before into the checksum, so the end needs no second pass."""
        done = 0
        with self.partial.open("rb") as fh:
            while done < have:
                self._check_stop()
                chunk = fh.read(min(CHUNK_BYTES * 4, have - done))
                if not chunk:
                    break
                hasher.update(chunk)
                done += len(chunk)
                if self._progress is not None:
                    self._progress(Progress(done, self.file.size, "Checking what was downloaded before"))

    def _stream(self, location: str, headers: dict[str, str], have: int, hasher: _Hasher, meter: _Meter) -> int:
        """One GET from ``have`` on; returns how many bytes the partial file holds after it."""
        import httpx2
        from huggingface_hub.utils import get_session, hf_raise_for_status

        from desktop_app.core.hub import client as hub_client

        item, partial = self.file, self.partial
        request_headers = dict(headers)
        request_headers["Accept-Encoding"] = "identity"
        if have:
            request_headers["Range"] = f"bytes={have}-"
        timeout = httpx2.Timeout(READ_TIMEOUT_S, connect=hub_client.API_TIMEOUT_S)
        with get_session().stream("GET", location, headers=request_headers, timeout=timeout) as response:
            if have and response.status_code == 416:
                raise _Restart  # the partial file does not fit the remote one: start over
            with hub_client.hub_errors(item.repo_id, item.filename):
                hf_raise_for_status(response)
            if have and response.status_code == 200:
                log.info("%s: the server ignored the Range request; starting over", item.filename)
                partial.unlink(missing_ok=True)
                have = 0
                hasher.reset()
            elif have and not _range_starts_at(response.headers.get("Content-Range", ""), have):
                partial.unlink(missing_ok=True)
                raise _Restart
            with _disk_full_names(item, partial), partial.open("ab") as fh:
                try:
                    for chunk in response.iter_bytes(CHUNK_BYTES):
                        self._check_stop()
                        if have + len(chunk) > item.size:
                            partial.unlink(missing_ok=True)
                            raise HearthError(
                                f"The server sent more than the {item.size:,} bytes of “{item.name}”; "
                                "the download was deleted.",
                                "Try again later.",
                            )
                        fh.write(chunk)
                        hasher.update(chunk)
                        have += len(chunk)
                        meter.add(len(chunk))
                        self._on_bytes(have, meter.speed)
                finally:
                    fh.flush()
                    os.fsync(fh.fileno())
        return have


def install(item: RemoteFile, dest: Path, partial: Path, digest: str) -> Path:
    """Moves the verified file into place and records where it came from."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not item.to_hf_cache:
        os.replace(partial, dest)
        write_sidecar(
            dest,
            {
                "origin": "hub",
                "repo_id": item.repo_id,
                "filename": item.filename,
                "revision": item.revision,
                "size": item.size,
                "sha256": item.sha256 or "",
                "verified": digest,
                "model_name": item.model_name,
                "downloaded_at": time.time(),
            },
        )
        return dest
    from huggingface_hub import hf_hub_download

    from desktop_app.core.hub import client as hub_client

    blob = partial.with_name(partial.name.removesuffix(".incomplete"))
    os.replace(partial, blob)
    with hub_client.hub_errors(item.repo_id, item.filename):
        pointer = hf_hub_download(
            item.repo_id,
            item.filename,
            revision=item.revision,
            cache_dir=str(hf_cache_dir()),
            endpoint=hub_client.endpoint(),
        )
    # hf_hub_download records no ref for a commit; tools that look up "main" offline need one.
    main_ref = blob.parent.parent / "refs" / "main"
    if not main_ref.exists():
        with contextlib.suppress(OSError):
            main_ref.parent.mkdir(parents=True, exist_ok=True)
            main_ref.write_text(item.revision, encoding="utf-8")
    return Path(str(pointer))


class _Meter:
    """Speed over the last few seconds."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, n: int) -> None:
        now = time.monotonic()
        self._total += n
        self._samples.append((now, self._total))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW_S:
            self._samples.popleft()

    @property
    def speed(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


class _Hasher:
    """sha256 of the file (LFS), or git's blob sha1 for a file kept in git."""

    def __init__(self, item: RemoteFile) -> None:
        self.expected = (item.sha256 or item.blob_id).lower()
        self.kind = "sha256" if item.sha256 else "git-sha1"
        self._size = item.size
        self.reset()

    def reset(self) -> None:
        if self.kind == "sha256":
            self._h = hashlib.sha256()
        else:
            self._h = hashlib.sha1(usedforsecurity=False)
            self._h.update(f"blob {self._size}\0".encode())

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


@contextlib.contextmanager
def _disk_full_names(item: RemoteFile, partial: Path) -> Iterator[None]:
    """A full disk mid-download, said about the model (not about a file of Hearth's own)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        have = partial.stat().st_size if partial.exists() else 0
        raise DiskFullError(
            f"The disk is full: the download of “{item.name}” stopped at {human_bytes(have)} of "
            f"{human_bytes(item.size)}. What was downloaded is kept.",
            "Free some space, then resume it (Resume in Downloads, or the same hearth pull command).",
        ) from exc


class _Restart(Exception):  # noqa: N818 - control flow inside a download
    """The partial file cannot be continued: download from byte 0."""


def _describe(exc: BaseException) -> str:
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return "the server stopped answering"
    if isinstance(exc, httpx2.ConnectError):
        return "the connection could not be made"
    return "the connection was lost"


def _range_starts_at(content_range: str, start: int) -> bool:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", content_range.strip())
    return match is not None and int(match.group(1)) == start


def _same_origin(a: str, b: str) -> bool:
    from urllib.parse import urlsplit

    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)
