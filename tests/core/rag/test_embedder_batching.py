"""Embedder.encode batches texts longest first (less padding) and still returns the rows in
the order given; cancel is honoured between batches. Real all-MiniLM-L6-v2."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import Cancelled


def test_rows_come_back_in_the_given_order(embedder: Any) -> None:
    texts = ["short", "a much longer sentence about plasma samples kept at minus eighty degrees", "mid length text"]
    texts = texts * 3  # three batches of three: the longest texts share one
    steps: list[Progress] = []
    together = embedder.encode(texts, batch_size=3, progress=steps.append)
    alone = np.vstack([embedder.encode([t]) for t in texts])
    assert together.shape == (len(texts), embedder.dimension)
    assert np.allclose(together, alone, atol=1e-5)  # row i is text i's vector
    assert [s.done for s in steps] == [3, 6, 9]


def test_cancel_stops_between_batches(embedder: Any) -> None:
    token = CancelToken()

    def cancel_after_first(_step: Progress) -> None:
        token.cancel()

    with pytest.raises(Cancelled):
        embedder.encode(["one", "two", "three", "four"], batch_size=2, cancel=token, progress=cancel_after_first)
