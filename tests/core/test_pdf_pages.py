"""Opening a cited PDF at its page on Linux: the default viewer is found the way xdg-mime
finds it (mimeapps.list, desktop entries) and started with the page. The viewer here is a
real stand-in program (no desktop is installed on this machine) that records its arguments."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from desktop_app.core import pdf_pages

RECORDER = """#!{python}
import json, sys
with open({out!r}, "w") as fh:
    json.dump(sys.argv[1:], fh)
"""


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty XDG folders and a bin folder first on PATH."""
    for name in ("config", "data", "bin"):
        (tmp_path / name).mkdir()
    (tmp_path / "data" / "applications").mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "no-such-dir"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "no-such-dir"))
    monkeypatch.setenv("XDG_CURRENT_DESKTOP", "GNOME")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def install_viewer(root: Path, desktop_id: str, exec_line: str, program: str, mimeapps: str = "mimeapps.list") -> Path:
    """A desktop entry, the default-application line, and a program that records its argv."""
    out = root / f"{program}.argv.json"
    script = root / "bin" / program
    script.write_text(RECORDER.format(python=sys.executable, out=str(out)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    entry = root / "data" / "applications" / desktop_id
    entry.write_text(f"[Desktop Entry]\nType=Application\nName=Viewer\nExec={exec_line}\n")
    (root / "config" / mimeapps).write_text(f"[Default Applications]\napplication/pdf={desktop_id};other.desktop;\n")
    return out


def wait_for(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.stat().st_size:
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def test_evince_is_started_at_the_cited_page(desktop: Path) -> None:
    pdf = desktop / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4\n")
    out = install_viewer(desktop, "org.gnome.Evince.desktop", "evince %U", "evince")
    assert pdf_pages.default_pdf_application() == "org.gnome.Evince.desktop"
    assert pdf_pages.open_at_page(str(pdf), 3)
    assert wait_for(out) == f'["--page-index=3", "{pdf}"]'


def test_a_desktop_specific_default_and_env_in_exec(desktop: Path) -> None:
    install_viewer(desktop, "org.kde.okular.desktop", "env QT_SCALE=1 okular %U", "okular", "gnome-mimeapps.list")
    command = pdf_pages.page_command("/papers/a.pdf", 12)
    assert command is not None
    assert Path(command[0]).name == "okular" and command[1:] == ["--page=12", "/papers/a.pdf"]


def test_a_browser_gets_the_page_in_the_url(desktop: Path) -> None:
    install_viewer(desktop, "firefox.desktop", "firefox %u", "firefox")
    command = pdf_pages.page_command(str(desktop / "a b.pdf"), 2)
    assert command is not None and command[1] == f"{(desktop / 'a b.pdf').as_uri()}#page=2"


def test_no_default_or_a_viewer_without_page_option_falls_back(desktop: Path) -> None:
    assert pdf_pages.default_pdf_application() is None
    assert not pdf_pages.open_at_page(str(desktop / "a.pdf"), 2)
    install_viewer(desktop, "gimp.desktop", "gimp-2.10 %U", "gimp-2.10")
    assert pdf_pages.page_command(str(desktop / "a.pdf"), 2) is None  # opened the usual way instead
