"""CSV cells that a spreadsheet cannot take for formulas.

A model's answer such as ``=HYPERLINK("http://…", "click")`` written to a CSV as is becomes a live
formula when the file is opened in Excel or LibreOffice. Every CSV Hearth writes passes its cells
through :func:`safe_cell`: text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading apostrophe (OWASP's advice), so it shows as the text it is. Numbers stay
numbers. Archives and JSON keep the exact text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell: text that a spreadsheet would run as a formula gets a leading
    apostrophe; anything else (numbers, empty) is returned as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]
