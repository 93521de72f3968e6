"""Collections on a Chroma server (issue 11, part 3), against the real ``chroma run`` started
here on 127.0.0.1 with its own folder: indexing and retrieval (vectors and BM25) on the server,
a second client in another process with its own data folder, idempotent re-adding across the two,
another model refused, the server killed mid-indexing and a retry, and every bad server told in
plain words while the local collections carry on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app.core import secrets
from desktop_app.core.errors import HearthError
from desktop_app.core.rag import index_report, ingest, retrieve
from desktop_app.core.rag.documents_settings import RagSettings
from desktop_app.core.rag.store import DocumentStore
from tests.chroma_servers import ChromaServer, NotChroma, OldChroma, TokenProxy, free_port
from tests.core.rag.test_ingest import GOOD_FILES, assert_consistent
from tests.documents_fixtures import BROKEN, FACTS

SPECTROMETER = "The spectrometer in room 12 is calibrated with the holmium oxide filter HX-77 every Friday."


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server")).start()
    yield server
    server.stop()


def _second_client(home: Path, url: str, name: str, same: Path, extra: Path) -> dict[str, Any]:
    """Another Hearth on another computer: its own process and data folder, the same server."""
    code = (
        "import json, sys\n"
        "from desktop_app.core.rag import ingest, retrieve\n"
        "from desktop_app.core.rag.store import DocumentStore\n"
        "url, name, same, extra = sys.argv[1:5]\n"
        "store = DocumentStore()\n"
        "info = ingest.create_collection(store, name, server=url)\n"
        "seen = sorted(f.path for f in store.files(info, 'indexed'))\n"
        "hit = retrieve.search(store, [name], 'Which foundation pays for the reagents?', k=1).hits[0]\n"
        "again = ingest.add_paths(store, name, [same])\n"
        "mine = ingest.add_paths(store, name, [extra])\n"
        "print(json.dumps({'seen': seen, 'hit': [hit.name, hit.page], 'again': len(again.indexed),\n"
        "    'again_unchanged': again.unchanged, 'mine': mine.indexed, 'shared': info.shared}))\n"
    )
    env = {**os.environ, "HEARTH_HOME": str(home)}
    out = subprocess.run(
        [sys.executable, "-c", code, url, name, str(same), str(extra)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_collection_shared_by_two_clients(chroma: ChromaServer, corpus: Path, tmp_path: Path, embedder: Any) -> None:
    store = DocumentStore()
    info = ingest.create_collection(store, "Shared papers", RagSettings(), server=chroma.url)
    assert info.shared and info.server_url == chroma.url and info.embed_backend == "onnx"
    report = ingest.add_paths(store, "Shared papers", [corpus])
    assert {Path(p).name for p in report.indexed} == GOOD_FILES
    assert_consistent(store, "Shared papers")  # on the server: exactly the manifest's chunks, once each
    for question in ("How fast must the centrifuge spin for plasma separation?", "Where is the fire extinguisher?"):
        top = retrieve.search(store, ["Shared papers"], question, k=3).hits[0]
        assert (top.name, top.page) == FACTS[question]

    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "spectrometer.md").write_text(f"# Instruments\n\n{SPECTROMETER}\n", encoding="utf-8")
    other = _second_client(tmp_path / "other-home", chroma.url, "Shared papers", corpus, extra)
    assert other["shared"] and other["seen"] == sorted(report.indexed)  # the first client's files, as indexed
    assert other["hit"] == ["report.pdf", 3]
    assert other["again"] == 0 and other["again_unchanged"] == len(GOOD_FILES)  # re-adding: nothing twice
    assert [Path(p).name for p in other["mine"]] == ["spectrometer.md"]

    # The first client sees the other's file, and its own rescan does not take it away.
    again = ingest.index_collection(store, "Shared papers")
    assert again.indexed == [] and again.removed == []
    info = store.collection("Shared papers")
    assert info.files == len(GOOD_FILES) + 1
    top = retrieve.search(store, ["Shared papers"], "HX-77", k=1).hits[0]  # BM25 over the other's chunks
    assert top.name == "spectrometer.md" and top.keyword_rank == 1
    assert_consistent(store, "Shared papers")
    # Removing the folder here removes this client's files only.
    assert {Path(p).name for p in store.remove_source(info, corpus)} == GOOD_FILES | set(BROKEN)
    assert [Path(f.path).name for f in store.files(store.collection("Shared papers"))] == ["spectrometer.md"]
    # Forgetting it on this computer leaves it on the server for the others.
    store.delete_collection("Shared papers")
    assert store.list_collections() == []
    rejoined = ingest.create_collection(store, "Shared papers", server=chroma.url)
    assert rejoined.files == 1


def test_another_embedding_model_is_refused(chroma: ChromaServer, corpus: Path, tmp_path: Path) -> None:
    from desktop_app.core.rag.embedder import bundled_model_path

    source = bundled_model_path()
    assert source is not None
    model = tmp_path / "minilm"
    shutil.copytree(source, model)
    store = DocumentStore()
    settings = RagSettings(embed_model=str(model), embed_backend="torch")
    ingest.create_collection(store, "Own model", settings, server=chroma.url)
    ingest.add_paths(store, "Own model", [corpus / "notes.md"])
    # The model's files change under the same name (another version): its vectors would not match.
    config = model / "config_sentence_transformers.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "note": "another version"}))
    with pytest.raises(HearthError, match="would not match"):
        ingest.index_collection(store, "Own model")
    other = DocumentStore(db_path=tmp_path / "other.db", chroma_path=tmp_path / "other-chroma")
    with pytest.raises(HearthError, match="would not match") as refused:
        ingest.create_collection(other, "Own model", server=chroma.url)
    assert "Use the same embedding model" in refused.value.hint
    assert other.list_collections() == []


@pytest.mark.usefixtures("one_file_at_a_time")
def test_the_server_killed_mid_indexing_then_a_retry_completes(corpus: Path, tmp_path: Path, embedder: Any) -> None:
    server = ChromaServer(tmp_path / "chroma-server").start()
    try:
        store = DocumentStore()
        ingest.add_paths(store, "Local notes", [corpus / "notes.md"])
        ingest.create_collection(store, "Lab", server=server.url)

        def progress(update: index_report.IndexProgress) -> None:
            if update.files_done >= 2 and server.process is not None:
                server.kill()

        with pytest.raises(HearthError, match="Nothing answers") as stopped:
            ingest.add_paths(store, "Lab", [corpus], progress=progress)
        assert "not affected" in stopped.value.hint
        # The local collection goes on; the shared one says what is wrong, and is left out beside it.
        assert retrieve.search(store, ["Local notes"], "freezer", k=1).hits[0].name == "notes.md"
        with pytest.raises(HearthError, match="Nothing answers"):
            retrieve.search(store, ["Lab"], "Where is the fire extinguisher?")
        both = retrieve.search(store, ["Lab", "Local notes"], "freezer", k=1)
        assert both.hits[0].name == "notes.md" and any("“Lab” was left out" in n for n in both.notes)
        written = store.collection("Lab").files
        assert 0 < written < len(GOOD_FILES)

        server.start()
        retry = ingest.index_collection(store, "Lab")
        info = store.collection("Lab")
        assert info.files == len(GOOD_FILES) and not info.dirty and retry.indexed
        assert_consistent(store, "Lab")
    finally:
        server.stop()


def test_bad_servers_are_told_in_plain_words(chroma: ChromaServer, corpus: Path, embedder: Any) -> None:
    store = DocumentStore()
    ingest.add_paths(store, "Local notes", [corpus / "notes.md"])
    cases = {
        f"http://127.0.0.1:{free_port()}": "Nothing answers",
        "ftp://127.0.0.1": "not a server address",
    }
    for url, words in cases.items():
        with pytest.raises(HearthError, match=words):
            ingest.create_collection(store, "Elsewhere", server=url)
    with NotChroma() as web, pytest.raises(HearthError, match="is not a Chroma server"):
        ingest.create_collection(store, "Elsewhere", server=web.url)
    with OldChroma("0.5.23") as old, pytest.raises(HearthError, match=r"runs Chroma 0\.5\.23") as too_old:
        ingest.create_collection(store, "Elsewhere", server=old.url)
    assert "1.x" in too_old.value.hint

    with TokenProxy(chroma.url, "s3cret") as proxy:
        for token in ("", "wrong"):
            with pytest.raises(HearthError, match="refused Hearth's token"):
                ingest.create_collection(store, "Behind a proxy", server=proxy.url, token=token)
        ingest.create_collection(store, "Behind a proxy", server=proxy.url, token="s3cret")
        ingest.add_paths(store, "Behind a proxy", [corpus / "safety.html"])
        top = retrieve.search(store, ["Behind a proxy"], "Where is the fire extinguisher?", k=1).hits[0]
        assert top.name == "safety.html"
    # The token is kept apart from the settings: in the keyring, or (none here) a file only the user reads.
    assert secrets.get(f"chroma-server:{proxy.url}") == "s3cret"
    if not secrets.keyring_available():
        assert secrets.secrets_path().stat().st_mode & 0o777 == 0o600
    # Nothing of the above touched the local collection.
    assert [c.name for c in store.list_collections()] == ["Behind a proxy", "Local notes"]
    assert retrieve.search(store, ["Local notes"], "freezer", k=1).hits[0].name == "notes.md"
