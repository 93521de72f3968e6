"""Measured embedding speeds (chunks per second per model and backend), kept in SQLite
(``rag_embed_rates``): what a change of model is estimated from (model_change.plan_model_change)."""

from __future__ import annotations

import time

from desktop_app.core.rag.catalog import Catalog


def record_rate(catalog: Catalog, model_id: str, chunks_per_s: float) -> None:
    if chunks_per_s <= 0:
        return
    with catalog.db() as db, db:
        db.execute(
            "INSERT OR REPLACE INTO rag_embed_rates (model_id, chunks_per_s, measured_at) VALUES (?, ?, ?)",
            (model_id, chunks_per_s, time.time()),
        )


def rates(catalog: Catalog) -> dict[str, float]:
    with catalog.db() as db:
        return {row[0]: float(row[1]) for row in db.execute("SELECT model_id, chunks_per_s FROM rag_embed_rates")}
