"""Fixtures the runs tests share: a RunStore on the test's data folder, and SmolLM2 as a run's
generator (the module-scoped engine of the root conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.inference.engine import Engine
from desktop_app.core.models.fingerprint import sha256_file
from desktop_app.core.runs.generators import LocalGenerator
from desktop_app.core.runs.storage import RunStore


@pytest.fixture
def store() -> Iterator[RunStore]:
    s = RunStore()
    yield s
    s.close()


@pytest.fixture(scope="module")
def smol_sha(smollm2_path: Path) -> str:
    return sha256_file(smollm2_path)


@pytest.fixture
def backend(engine: Engine, smol_sha: str) -> LocalGenerator:
    return LocalGenerator(engine, smol_sha)
