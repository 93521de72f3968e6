"""Picture files (PNG, JPEG, TIFF) opened safely: for text recognition and for the document viewer.

A picture is hostile until checked: the file's size, its format (what the bytes are, not what the
name says) and its pixel count are checked from the header, before a single pixel is decoded, so a
decompression bomb (a few kilobytes that would inflate to gigabytes) is refused in plain words.
A TIFF's frames are its pages (1-based, like a PDF's). Pillow is imported on first use.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from desktop_app.core.errors import HearthError

PICTURE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}
FORMATS = {"PNG", "JPEG", "MPO", "TIFF"}  # MPO: a JPEG from a camera with a second image inside
FILE_SIZE_LIMIT = 256 * 1024 * 1024
MAX_PIXELS = 80_000_000  # per page: a 600-dpi A3 scan is ~70 M; Pillow itself warns past 89 M
MAX_FRAMES = 1000  # pages of one TIFF read at most


log = logging.getLogger(__name__)


class UnreadablePicture(HearthError):  # noqa: N818 - reads naturally: raise UnreadablePicture
    """A picture that cannot be shown or read; ``message`` says why in plain words."""


def is_picture(path: str | Path) -> bool:
    return Path(path).suffix.lower() in PICTURE_EXTENSIONS


def _open(path: Path) -> Any:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadablePicture(f"The picture cannot be opened ({exc.strerror or exc}).") from None
    return _open_source(path, path, size)


def _open_source(source: Any, path: Path, size: int) -> Any:
    """``source`` (a path or a file object) opened by Pillow, its header checked; ``path`` names it."""
    from PIL import Image, UnidentifiedImageError

    if size > FILE_SIZE_LIMIT:
        raise UnreadablePicture(
            f"The picture is too large to read ({size / 1_048_576:,.0f} MB; the limit is"
            f" {FILE_SIZE_LIMIT // 1_048_576} MB)."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadablePicture(_too_many_pixels()) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise _damaged(path, exc) from None
    if image.format not in FORMATS:
        image.close()
        raise _damaged(path, ValueError(f"its content is {image.format}"))
    return image


def _check_size(image: Any) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS or width <= 0 or height <= 0:
        raise UnreadablePicture(_too_many_pixels(width, height))


def page_count(path: str | Path) -> int:
    """The picture's pages (a TIFF's frames, else 1), at most MAX_FRAMES; raises UnreadablePicture."""
    image = _open(Path(path))
    try:
        _check_size(image)
        return max(1, min(MAX_FRAMES, int(getattr(image, "n_frames", 1) or 1)))
    finally:
        image.close()


def load_page(path: str | Path, page: int = 1) -> Any:
    """Page ``page`` (1-based) of the picture as an RGB PIL image; raises UnreadablePicture."""
    from PIL import Image

    image = _open(Path(path))
    try:
        frames = max(1, int(getattr(image, "n_frames", 1) or 1))
        if not 1 <= page <= min(frames, MAX_FRAMES):
            raise UnreadablePicture(f"“{Path(path).name}” has no page {page}: it has {frames}.")
        if page > 1:
            image.seek(page - 1)
        _check_size(image)  # each frame of a TIFF has its own size
        try:
            return image.convert("RGB")  # decodes: a truncated or damaged file fails here
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            raise _damaged(Path(path), exc) from None
    finally:
        image.close()


def load_bytes(data: bytes, name: str, min_pixels: int = 0) -> Any | None:
    """A picture held in memory (one inside a Word or OpenDocument file) as an RGB PIL image, checked
    as a file is; None when it has fewer than ``min_pixels`` (an icon, a rule, a bullet)."""
    import io

    image = _open_source(io.BytesIO(data), Path(name), len(data))
    try:
        _check_size(image)
        if image.size[0] * image.size[1] < min_pixels:
            return None
        try:
            return image.convert("RGB")
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise _damaged(Path(name), exc) from None
    finally:
        image.close()


def _damaged(path: Path, exc: BaseException) -> UnreadablePicture:
    log.info("Picture %s unreadable: %s", path, exc)
    kind = "TIFF" if path.suffix.lower() in (".tif", ".tiff") else path.suffix.lstrip(".").upper() or "picture"
    return UnreadablePicture(
        f"The picture is damaged or is not a real {kind} file, so it could not be read.",
        "If an image viewer shows it, save it again as PNG and add that copy.",
    )


def _too_many_pixels(width: int = 0, height: int = 0) -> str:
    size = f" ({width:,} × {height:,} pixels)" if width and height else ""
    return f"The picture is too large to read{size}: at most {MAX_PIXELS // 1_000_000} million pixels a page."
