"""Opening a PDF at a page on Linux, where the desktop's "open this file" has no page argument.

Windows and macOS viewers take ``file.pdf#page=N`` through the usual URL opener. On Linux,
xdg-open drops the fragment, so a citation would open at page 1. Instead: find the user's
default PDF application (``mimeapps.list`` in the XDG config and data directories, as
xdg-mime reads them), and when it is a viewer whose command line takes a page, start it
with that page. Any other viewer: None, and the caller opens the file the usual way.
"""

from __future__ import annotations

import configparser
import logging
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

PDF_MIME = "application/pdf"


def _page_option(flag: str) -> Callable[[str, int], list[str]]:
    return lambda path, page: [f"{flag}={page}", path]  # pages counted from 1, as in citations


def _url_fragment(path: str, page: int) -> list[str]:
    return [f"{Path(path).resolve().as_uri()}#page={page}"]


# The program's file name (from the desktop entry's Exec=) -> its arguments for a page.
PAGE_ARGUMENTS: dict[str, Callable[[str, int], list[str]]] = {
    "evince": _page_option("--page-index"),
    "atril": _page_option("--page-index"),
    "xreader": _page_option("--page-index"),
    "okular": _page_option("--page"),
    "zathura": _page_option("--page"),
    "qpdfview": lambda path, page: [f"{path}#{page}"],
    "mupdf": lambda path, page: [path, str(page)],
    "firefox": _url_fragment,
    "firefox-esr": _url_fragment,
    "chromium": _url_fragment,
    "chromium-browser": _url_fragment,
    "google-chrome": _url_fragment,
    "google-chrome-stable": _url_fragment,
}


def _xdg_dirs(home_var: str, home_default: str, dirs_var: str, dirs_default: str) -> list[Path]:
    home = os.environ.get(home_var) or str(Path.home() / home_default)
    rest = (os.environ.get(dirs_var) or dirs_default).split(":")
    return [Path(d) for d in [home, *rest] if d]


def _config_dirs() -> list[Path]:
    return _xdg_dirs("XDG_CONFIG_HOME", ".config", "XDG_CONFIG_DIRS", "/etc/xdg")


def _data_dirs() -> list[Path]:
    return _xdg_dirs("XDG_DATA_HOME", ".local/share", "XDG_DATA_DIRS", "/usr/local/share:/usr/share")


def _read_ini(path: Path) -> configparser.ConfigParser | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment, method-assign] # keys are case-sensitive
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error, UnicodeDecodeError):
        return None
    return parser


def default_pdf_application() -> str | None:
    """The desktop id (``org.gnome.Evince.desktop``) the user's desktop opens PDFs with."""
    desktop = os.environ.get("XDG_CURRENT_DESKTOP", "").lower().split(":")
    names = [f"{d}-mimeapps.list" for d in desktop if d] + ["mimeapps.list"]
    places = [*_config_dirs(), *(d / "applications" for d in _data_dirs())]
    for folder in places:
        for name in names:
            parser = _read_ini(folder / name)
            if parser is None:
                continue
            for section in ("Default Applications", "Added Associations"):
                if parser.has_option(section, PDF_MIME):
                    first = parser.get(section, PDF_MIME).split(";")[0].strip()
                    if first:
                        return first
    return None


def desktop_entry_program(desktop_id: str) -> str | None:
    """The program (first word of Exec=) of a desktop entry found in the XDG data dirs."""
    for folder in _data_dirs():
        entry = folder / "applications" / desktop_id
        if not entry.is_file():
            continue
        parser = _read_ini(entry)
        if parser is None or not parser.has_option("Desktop Entry", "Exec"):
            continue
        try:
            words = shlex.split(parser.get("Desktop Entry", "Exec"))
        except ValueError:
            continue
        if words and words[0] == "env":  # Exec=env VAR=x program %U
            words = [w for w in words[1:] if "=" not in w]
        return words[0] if words else None
    return None


def page_command(path: str, page: int) -> list[str] | None:
    """The command that opens ``path`` at ``page`` in the default PDF viewer, or None when
    there is none or it takes no page on its command line."""
    desktop_id = default_pdf_application()
    program = desktop_entry_program(desktop_id) if desktop_id else None
    if not program:
        return None
    arguments = PAGE_ARGUMENTS.get(Path(program).name)
    executable = shutil.which(program)
    if arguments is None or executable is None:
        return None
    return [executable, *arguments(path, max(1, page))]


def open_at_page(path: str, page: int) -> bool:
    """Starts the default viewer at ``page`` (detached). False when it cannot: then open the
    file the usual way."""
    command = page_command(path, page)
    if command is None:
        return False
    try:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives Hearth, gets no Ctrl+C from its terminal
        )
    except OSError as exc:
        log.warning("Could not start %s: %s", command[0], exc)
        return False
    return True
