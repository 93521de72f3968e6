"""Printing helpers shared by the CLI commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from desktop_app.core.cancel import CancelToken

T = TypeVar("T")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def stream_to_stdout(items: Iterable[str | T], final: type[T], echo: bool, cancel: CancelToken) -> T:
    """Writes a reply's text pieces as they come (when ``echo``) and returns the closing
    ``final`` object; Ctrl+C cancels the generation before it propagates."""
    result: T | None = None
    try:
        for item in items:
            if isinstance(item, final):
                result = item
            elif echo:
                sys.stdout.write(str(item))
                sys.stdout.flush()
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    assert result is not None
    return result
