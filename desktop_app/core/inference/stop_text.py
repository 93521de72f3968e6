"""Stop strings in streamed text: what may start one is held back, so a stop string never
reaches the reader, and reaching one ends the reply. Used by the engine (a template's stop
strings) and the local server (a request's ``stop``)."""

from __future__ import annotations

from collections.abc import Sequence


class StopText:
    """Holds back text that may be the start of a stop string, so a stop never reaches the user."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""

    def feed(self, piece: str) -> tuple[str, bool]:
        """(text safe to show, whether a stop string was reached)."""
        if not self._stops:
            return piece, False
        text = self._held + piece
        cut = min((i for i in (text.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return text[:cut], True
        keep = max((k for s in self._stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
