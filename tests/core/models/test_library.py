"""The local library: Hearth's own models and those other apps keep (LM Studio, GPT4All, Ollama,
the Hugging Face cache), laid out in a fake home folder exactly as those apps lay them out,
holding the real SmolLM2 GGUF."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from hubstub import split_gguf

from desktop_app.core import paths
from desktop_app.core.cancel import CancelToken, Progress
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.fit import badges as fit_badges
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.models import gguf_meta, library
from desktop_app.core.settings import Settings

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def place(src: Path, dst: Path) -> Path:
    """A copy of ``src`` at ``dst``: a hard link when the file system allows (same bytes for any
    reader, without writing 100 MB per fake app), else a real copy. Tests only read these."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    return dst


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def smol_sha256(smollm2_path: Path) -> str:
    return sha256_of(smollm2_path)


@pytest.fixture
def fake_home(tmp_path: Path, smollm2_path: Path, smol_sha256: str) -> Path:
    home = tmp_path / "home"
    # LM Studio (current and older folder), with a vision projector that is not a model.
    place(smollm2_path, home / ".lmstudio/models/lmstudio-community/SmolLM2-GGUF/SmolLM2-135M-Instruct-Q4_1.gguf")
    (home / ".lmstudio/models/lmstudio-community/SmolLM2-GGUF/mmproj-model-f16.gguf").write_bytes(b"GGUF")
    place(smollm2_path, home / ".cache/lm-studio/models/old/Old-GGUF/old-smol-Q4_1.gguf")
    # GPT4All keeps its models flat in its data folder.
    place(smollm2_path, home / ".local/share/nomic.ai/GPT4All/smollm2-gpt4all.Q4_1.gguf")
    # Ollama: a manifest names the model blob (by sha256) among other layers.
    ollama = home / ".ollama/models"
    place(smollm2_path, ollama / "blobs" / f"sha256-{smol_sha256}")
    template = b"{{ .Prompt }}"
    template_sha = hashlib.sha256(template).hexdigest()
    (ollama / "blobs" / f"sha256-{template_sha}").write_bytes(template)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:" + "c" * 64,
                   "size": 400},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{smol_sha256}",
             "size": smollm2_path.stat().st_size},
            {"mediaType": "application/vnd.ollama.image.template", "digest": f"sha256:{template_sha}",
             "size": len(template)},
        ],
    }  # fmt: skip
    for where in ("registry.ollama.ai/library/smollm2/135m", "hf.co/bartowski/SmolLM2-GGUF/Q4_1"):
        path = ollama / "manifests" / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(manifest))
    broken = ollama / "manifests/registry.ollama.ai/library/missing/latest"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text(json.dumps({"layers": [{"mediaType": "application/vnd.ollama.image.model",
                                              "digest": "sha256:" + "d" * 64}]}))  # fmt: skip
    # The Hugging Face cache: blobs by sha256, snapshots of symlinks, refs.
    repo = home / ".cache/huggingface/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct-GGUF"
    blob = place(smollm2_path, repo / "blobs" / smol_sha256)
    snapshot = repo / "snapshots" / COMMIT / "SmolLM2-135M-Instruct.Q4_1.gguf"
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(os.path.relpath(blob, snapshot.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return home


def by_source(models: list[library.LocalModel]) -> dict[str, list[library.LocalModel]]:
    out: dict[str, list[library.LocalModel]] = {}
    for m in models:
        out.setdefault(m.source, []).append(m)
    return out


def test_models_other_apps_keep_are_listed_in_place(fake_home: Path, smollm2_path: Path, smol_sha256: str) -> None:
    models = library.list_models(home=fake_home)
    sources = by_source(models)
    size = smollm2_path.stat().st_size

    lm = sorted(m.path.name for m in sources["LM Studio"])
    assert lm == ["SmolLM2-135M-Instruct-Q4_1.gguf", "old-smol-Q4_1.gguf"]  # no projector
    (gpt4all,) = sources["GPT4All"]
    assert gpt4all.path == fake_home / ".local/share/nomic.ai/GPT4All/smollm2-gpt4all.Q4_1.gguf"
    ollama = sorted(sources["Ollama"], key=lambda m: m.name)
    # Both tags point at the same blob: listed once, under the first name found.
    assert [m.path for m in ollama] == [fake_home / ".ollama/models/blobs" / f"sha256-{smol_sha256}"]
    assert ollama[0].name in ("smollm2:135m", "hf.co/bartowski/SmolLM2-GGUF:Q4_1")
    (cached,) = sources["Hugging Face cache"]
    assert cached.repo_id == "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF" and cached.revision == COMMIT
    assert cached.path.is_symlink()
    for model in models:
        assert model.size_bytes == size and model.quant == "Q4_1" and model.architecture == "llama"
    for model in (*sources["LM Studio"], gpt4all, *ollama, cached):
        assert not model.deletable  # other apps' files are theirs
        assert model.path.is_relative_to(fake_home)  # listed where they are, never copied
    assert not list(paths.models_dir().rglob("*.gguf"))
    assert sources["starter"][0].path == smollm2_path


def test_ollama_manifests_name_their_model_blobs(fake_home: Path, smol_sha256: str) -> None:
    found = library.discover_ollama(fake_home / ".ollama/models")
    names = sorted(f.name or "" for f in found)
    assert names == ["hf.co/bartowski/SmolLM2-GGUF:Q4_1", "smollm2:135m"]  # not the template, not the missing one
    assert {f.path.name for f in found} == {f"sha256-{smol_sha256}"}


def test_roots_follow_the_environment_without_a_home_override(tmp_path: Path) -> None:
    env = {"OLLAMA_MODELS": str(tmp_path / "ollama"), "HF_HUB_CACHE": str(tmp_path / "hf"),
           "XDG_DATA_HOME": str(tmp_path / "data")}  # fmt: skip
    roots = library.other_app_roots(env=env)
    assert roots["Ollama"] == [tmp_path / "ollama"]
    assert roots["Hugging Face cache"] == [tmp_path / "hf"]
    if os.name == "posix" and not str(roots["GPT4All"][0]).startswith(str(Path.home() / "Library")):
        assert roots["GPT4All"][-1] == tmp_path / "data" / "nomic.ai" / "GPT4All"


def test_gpt4all_download_path_setting_is_followed(tmp_path: Path, smollm2_path: Path) -> None:
    home = tmp_path / "home"
    custom = tmp_path / "my-models"
    place(smollm2_path, custom / "custom.Q4_1.gguf")
    ini = home / ".config/nomic.ai/GPT4All.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text(f"[General]\nmodelPath={custom}\n")
    if library.platform.system() not in ("Linux",):
        pytest.skip("GPT4All.ini is read where it is an ini file (Linux)")
    found = [m for m in library.list_models(home=home) if m.source == "GPT4All"]
    assert [m.path for m in found] == [custom / "custom.Q4_1.gguf"]


def test_removed_from_list_stays_out_and_the_file_stays(fake_home: Path) -> None:
    model = next(m for m in library.list_models(home=fake_home) if m.source == "GPT4All")
    with pytest.raises(HearthError, match="does not delete it"):
        library.delete_model(model)
    library.remove_from_list(model)
    assert model.path not in [m.path for m in library.list_models(home=fake_home)]
    assert model.path.is_file()
    library.unhide_all()
    assert model.path in [m.path for m in library.list_models(home=fake_home)]


def test_an_opened_file_is_removed_from_the_settings(tmp_path: Path, smollm2_path: Path) -> None:
    elsewhere = place(smollm2_path, tmp_path / "elsewhere" / "mine.gguf")
    config = Settings()
    assert library.add_reference(config, elsewhere)
    assert not library.add_reference(config, elsewhere)  # once
    (opened,) = [m for m in library.list_models(config.extra_model_paths, other_apps=False) if m.source == "opened"]
    assert opened.path == elsewhere
    assert library.remove_from_list(opened, config)
    assert config.extra_model_paths == []


def test_delete_frees_the_disk_only_in_the_models_folder(smollm2_path: Path) -> None:
    folder = paths.models_dir() / "someone" / "repo"
    folder.mkdir(parents=True)
    target = folder / "mine-Q4_1.gguf"
    shutil.copyfile(smollm2_path, target)
    (folder / "mine-Q4_1.gguf.hearth.json").write_text(json.dumps({"origin": "hub", "repo_id": "someone/repo"}))
    (model,) = [m for m in library.list_models(other_apps=False) if m.path == target]
    assert model.source == "downloaded" and model.repo_id == "someone/repo" and model.deletable
    freed = library.delete_model(model)
    assert freed == smollm2_path.stat().st_size
    assert not target.exists() and not folder.exists()  # its record and the empty folders go too
    assert paths.models_dir().is_dir()


def test_import_copies_into_the_models_folder(tmp_path: Path, smollm2_path: Path) -> None:
    source = place(smollm2_path, tmp_path / "downloads" / "my-smol.Q4_1.gguf")
    seen: list[Progress] = []
    model = library.import_model(source, copy=True, progress=seen.append)
    assert model.source == "imported" and model.deletable and model.origin == str(source)
    assert model.path == paths.models_dir() / "imported" / "my-smol.Q4_1.gguf"
    assert sha256_of(model.path) == sha256_of(smollm2_path)
    assert seen[-1].done == seen[-1].total == smollm2_path.stat().st_size
    assert source.is_file()
    with pytest.raises(HearthError, match="already imported"):
        library.import_model(source, copy=True)
    listed = [m for m in library.list_models(other_apps=False) if m.path == model.path]
    assert listed[0].source == "imported"


def test_a_cancelled_import_leaves_nothing(tmp_path: Path, smollm2_path: Path) -> None:
    source = place(smollm2_path, tmp_path / "x" / "cancel-me.gguf")
    cancel = CancelToken()

    def stop_soon(progress: Progress) -> None:
        cancel.cancel()

    with pytest.raises(Cancelled):
        library.import_model(source, copy=True, progress=stop_soon, cancel=cancel)
    assert not list((paths.models_dir() / "imported").iterdir())


def test_a_broken_file_is_refused_on_import(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(HearthError, match=r"incomplete|not a GGUF"):
        library.import_model(broken, copy=True)


def test_fit_of_a_local_model_is_its_header_planned(smollm2_path: Path) -> None:
    (starter,) = [m for m in library.list_models(other_apps=False) if m.source == "starter"]
    hw = fit_badges.machine()
    badge = fit_badges.local_badge(starter, 2048, hw)
    assert badge.result == fit_plan.plan(gguf_meta.read_local(smollm2_path), hw, 2048)
    assert badge.label == fit_badges.VERDICT_LABELS[badge.verdict]


def test_a_split_model_is_one_model_with_every_part(tmp_path: Path, smollm2_path: Path) -> None:
    """Split with gguf's own writer (as llama.cpp's gguf-split does), then listed as one model."""
    parts = split_gguf(smollm2_path, paths.models_dir() / "split", "smol-Q4_1", n_parts=2)
    models = [m for m in library.list_models(other_apps=False) if m.path.parent == parts[0].parent]
    (model,) = models
    assert model.name == "smol-Q4_1"
    assert model.parts == parts
    assert model.size_bytes == sum(p.stat().st_size for p in parts)
    whole = gguf_meta.read_local(smollm2_path)
    assert library.read_header(model.path).n_params == whole.n_params
    assert library.delete_model(model) == model.size_bytes
    assert not any(p.exists() for p in parts)
