"""OCR switched on or off per collection: a small options file next to the collection's vectors.

Apart from ``ocr`` so that the recogniser imports nothing of the store (the store, chunking and the
parsers sit above it: rag keeps no import cycle).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.core.rag.parsers.pictures import OCR_OFF

if TYPE_CHECKING:
    from desktop_app.core.rag.catalog import CollectionInfo
    from desktop_app.core.rag.store import DocumentStore


def _options_file(store: DocumentStore, info: CollectionInfo) -> Path:
    return store.chroma_path / "hearth-options" / f"{info.store_name}.json"


def ocr_enabled(store: DocumentStore, info: CollectionInfo) -> bool:
    """Whether scanned pages of this collection are recognised (on unless switched off)."""
    try:
        data = json.loads(_options_file(store, info).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return bool(data.get("ocr", True)) if isinstance(data, dict) else True


def set_ocr_enabled(store: DocumentStore, info: CollectionInfo, enabled: bool) -> None:
    """Switches recognition on or off for the collection. Switched on, the scans skipped for
    having no text layer and the pictures skipped while it was off are forgotten, so the next
    indexing run reads them."""
    target = _options_file(store, info)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps({"ocr": enabled}), encoding="utf-8")
    os.replace(tmp, target)
    if enabled:
        scans = [f.path for f in store.files(info, "skipped") if "no text layer" in f.reason or OCR_OFF in f.reason]
        store.remove_files(info, scans)
