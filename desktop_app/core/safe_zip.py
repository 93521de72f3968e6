"""Reading members of a zip file that may be a zip bomb (DOCX, ODT, EPUB, XLSX, run archives).

A 150 KB zip can inflate to gigabytes. Each member's declared size is checked before it is
read: Python's zipfile never inflates a member past the size its header declares (a member
that lies fails its CRC check instead), so the check bounds the memory a read can take.
"""

from __future__ import annotations

import zipfile

from desktop_app.core.errors import HearthError
from desktop_app.core.units import human_bytes

MEMBER_LIMIT = 256 * 1024 * 1024  # one part of a document or archive, inflated
TOTAL_LIMIT = 1024 * 1024 * 1024  # all the parts a reader loads together, inflated


class ZipTooLarge(HearthError):  # noqa: N818 - reads naturally: raise ZipTooLarge
    """A member (or the members together) would inflate past the limit; the message says so."""


def check_member(info: zipfile.ZipInfo, limit: int = MEMBER_LIMIT) -> None:
    if info.file_size > limit:
        raise ZipTooLarge(
            f"Its part “{info.filename}” would take {human_bytes(info.file_size)} once unpacked "
            f"(the limit is {human_bytes(limit)}).",
            "A file this size is usually damaged or built to fill memory (a zip bomb).",
        )


def check_all(archive: zipfile.ZipFile, limit: int = MEMBER_LIMIT, total: int = TOTAL_LIMIT) -> None:
    """Every member's declared size, and their sum, within the limits (for readers that load
    every part, like python-docx and openpyxl)."""
    declared = 0
    for info in archive.infolist():
        check_member(info, limit)
        declared += info.file_size
    if declared > total:
        raise ZipTooLarge(
            f"Its parts would take {human_bytes(declared)} once unpacked (the limit is {human_bytes(total)}).",
            "A file this size is usually damaged or built to fill memory (a zip bomb).",
        )


def read_member(archive: zipfile.ZipFile, name: str, limit: int = MEMBER_LIMIT) -> bytes:
    """The member ``name`` (KeyError if absent), its declared size checked first."""
    info = archive.getinfo(name)
    check_member(info, limit)
    return archive.read(info)
