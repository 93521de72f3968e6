"""Download throughput: Hearth's downloader from the loopback Hub stand-in against a plain file copy.

The stand-in (tests/hubstub.py) serves a real GGUF over HTTP on 127.0.0.1 with the Hub's
redirect to a CDN; Hearth's path is the whole of it: the HEAD through huggingface_hub,
streaming to a partial file with progress, sha256 while streaming, fsync, the final
rename and the sidecar. The baseline is ``shutil.copyfile`` of the same file (the page
cache is warm for both), and hashing alone, so the overhead of HTTP and verification
shows as a ratio. A pause at half way and a resume measure what a resume costs: the time
of the second half (it re-hashes the first half from disk) and the bytes the server sent
beyond the file's size, which are only those in flight in socket buffers when the pause
hit (the resume asks for exactly the bytes the partial file lacks).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
REPEATS = 3
MIB = 1024 * 1024


def _model() -> Path:
    gemma = REPO / ".venv" / "test-models" / "gemma-3-270m-q4_k_m.gguf"
    if gemma.is_file():
        return gemma
    from desktop_app.core.models.library import starter_model_path

    path = starter_model_path()
    if path is None:
        raise RuntimeError("No GGUF model to serve: run scripts/setup.sh --test")
    return path


def _mib_s(size: int, seconds: float) -> float:
    return round(size / MIB / seconds, 1) if seconds > 0 else 0.0


def run() -> dict[str, Any]:
    sys.path.insert(0, str(REPO / "tests"))
    import hubstub
    from huggingface_hub import constants

    from desktop_app.core.errors import Cancelled
    from desktop_app.core.hub import client as hub_client
    from desktop_app.core.hub.downloads import DownloadQueue

    source = _model()
    size = source.stat().st_size
    saved_env = {k: os.environ.get(k) for k in ("HEARTH_HOME", "HF_ENDPOINT", "HF_HUB_OFFLINE")}
    saved_constants = {k: getattr(constants, k) for k in ("ENDPOINT", "HUGGINGFACE_CO_URL_TEMPLATE", "HF_HUB_OFFLINE")}
    stub = hubstub.HubStub()
    stub.add_repo(hubstub.StubRepo("bench/model-GGUF", [hubstub.StubFile(source.name, source=source)]))
    stub.start()
    try:
        with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
            root = Path(tmp)
            os.environ["HF_ENDPOINT"] = stub.endpoint
            os.environ.pop("HF_HUB_OFFLINE", None)
            constants.ENDPOINT = stub.endpoint
            constants.HUGGINGFACE_CO_URL_TEMPLATE = stub.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
            constants.HF_HUB_OFFLINE = False

            download_s = []
            for i in range(REPEATS):
                os.environ["HEARTH_HOME"] = str(root / f"home-{i}")
                queue = DownloadQueue()
                page = hub_client.open_repo("bench/model-GGUF")
                (item,) = queue.add_model(page, page.models[0])
                started = time.perf_counter()
                queue.run(item.id)
                download_s.append(time.perf_counter() - started)

            copy_s = []
            for i in range(REPEATS):
                target = root / f"copy-{i}.gguf"
                started = time.perf_counter()
                shutil.copyfile(source, target)
                with target.open("rb") as fh:
                    os.fsync(fh.fileno())  # the downloader syncs too
                copy_s.append(time.perf_counter() - started)
                target.unlink()

            started = time.perf_counter()
            digest = hashlib.sha256()
            with source.open("rb") as fh:
                while chunk := fh.read(4 * MIB):
                    digest.update(chunk)
            hash_s = time.perf_counter() - started

            # Pause at half way, then resume.
            os.environ["HEARTH_HOME"] = str(root / "home-resume")
            queue = DownloadQueue()
            page = hub_client.open_repo("bench/model-GGUF")
            (item,) = queue.add_model(page, page.models[0])
            stub.reset_log()

            def pause_half(progress: Any) -> None:
                if progress.done >= size // 2:
                    queue.pause(item.id)

            try:
                queue.run(item.id, progress=pause_half)
            except Cancelled:
                pass
            queue.resume(item.id)
            started = time.perf_counter()
            queue.run(item.id)
            resume_s = time.perf_counter() - started
            sent = stub.bytes_sent(source.name)
    finally:
        stub.stop()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for key, value in saved_constants.items():
            setattr(constants, key, value)

    download = statistics.median(download_s)
    copy = statistics.median(copy_s)
    return {
        "file": source.name,
        "size_mib": round(size / MIB, 1),
        "download_mib_s": _mib_s(size, download),
        "download_runs_s": [round(s, 3) for s in download_s],
        "copy_mib_s": _mib_s(size, copy),
        "copy_runs_s": [round(s, 3) for s in copy_s],
        "sha256_only_mib_s": _mib_s(size, hash_s),
        "download_vs_copy": round(copy / download, 3) if download else None,
        "resume_second_half_s": round(resume_s, 3),
        "resume_extra_bytes_in_flight": sent - size,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
