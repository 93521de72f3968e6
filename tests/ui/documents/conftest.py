"""The window's shared parts for a Documents section shown on its own: an AppContext (its
document store is the one the section uses), closed when the test ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app.ui.context import AppContext


@pytest.fixture
def app_context(hearth_home: Path) -> Iterator[AppContext]:
    context = AppContext()
    yield context
    context.close()
