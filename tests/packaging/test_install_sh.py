"""packaging/linux/install.sh from a real folder named 'R&D 100%' (and worse): the menu entry's
Exec line must name that folder exactly, for the Desktop Entry Specification and for GLib."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "packaging" / "linux"
pytestmark = pytest.mark.skipif(os.name != "posix", reason="install.sh is for Linux")


def unpacked_app(parent: Path, name: str) -> Path:
    """The app folder as the .tar.gz unpacks it, with a Hearth that records how it was started."""
    app = parent / name
    (app / "_internal" / "resources" / "icons").mkdir(parents=True)
    shutil.copy(REPO / "resources" / "icons" / "hearth.svg", app / "_internal" / "resources" / "icons")
    template = (LINUX / "hearth.desktop").read_text(encoding="utf-8")
    (app / "hearth.desktop").write_text(template.replace("@EXEC@", "Hearth"), encoding="utf-8")
    shutil.copy(LINUX / "install.sh", app / "install.sh")
    record = parent / "started-as.txt"
    (app / "Hearth").write_text(f'#!/bin/sh\nprintf "%s" "$0" > "{record}"\n')
    (app / "Hearth").chmod(0o755)
    return app


def exec_program(value: str) -> list[str]:
    """Exec= value -> argv, by the Desktop Entry Specification: string escapes, then quoting, then %%."""
    unescaped = re.sub(r"\\(.)", lambda m: {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), value)
    argv, word, i, quoted = [], "", 0, False
    while i < len(unescaped):
        char = unescaped[i]
        if quoted and char == "\\" and i + 1 < len(unescaped) and unescaped[i + 1] in '"`$\\':
            word += unescaped[i + 1]
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            argv.append(word)
            word = ""
        else:
            word += char
        i += 1
    argv.append(word)
    return [w.replace("%%", "%") for w in argv if w]


def install(app: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, XDG_DATA_HOME=str(data), HOME=str(data.parent))
    return subprocess.run(
        ["sh", str(app / "install.sh"), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("name", ["R&D 100%", 'R&D 100% "q" $HOME `id` back\\slash |;', "plain"])
def test_menu_entry_runs_hearth_from_a_folder_with_awkward_characters(tmp_path: Path, name: str) -> None:
    app = unpacked_app(tmp_path, name)
    data = tmp_path / "data"
    done = install(app, data)
    assert done.returncode == 0, done.stderr
    entry = data / "applications" / "hearth.desktop"
    lines = entry.read_text(encoding="utf-8").splitlines()
    [exec_line] = [line for line in lines if line.startswith("Exec=")]
    argv = exec_program(exec_line.removeprefix("Exec="))
    assert argv[-1] == str(app / "Hearth")
    assert argv[:-1] == (["env"] if "%" in name else [])
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "hearth.svg").is_file()
    template = (LINUX / "hearth.desktop").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if not line.startswith("Exec=")] == [
        line for line in template if not line.startswith("Exec=")
    ]

    if shutil.which("desktop-file-validate"):
        checked = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    if shutil.which("gio"):  # GLib's own parser starts it, as GNOME's menu would
        launch = ["gio", "launch", str(entry)]
        launched = subprocess.run(launch, capture_output=True, text=True, timeout=30, check=False)
        assert launched.returncode == 0, launched.stderr
        record = tmp_path / "started-as.txt"
        for _ in range(50):
            if record.exists() and record.read_text():
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert record.read_text() == str(app / "Hearth")

    removed = install(app, data, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert not entry.exists()
