"""A fit plan as a badge to show: a verdict, a short label and one line of detail."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop_app.core.errors import ModelLoadError
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.fit.result import FitResult, Verdict

if TYPE_CHECKING:
    from desktop_app.core.hardware import HardwareInfo
    from desktop_app.core.models.gguf_meta import GGUFInfo
    from desktop_app.core.models.library import LocalModel

log = logging.getLogger(__name__)


VERDICT_LABELS: dict[str, str] = {
    Verdict.FULL_GPU: "Fits on the GPU",
    Verdict.PARTIAL_GPU: "Partly on the GPU",
    Verdict.CPU: "Runs on the CPU",
    Verdict.TOO_LARGE: "Too large",
}


_HARDWARE: list[HardwareInfo] = []


_HARDWARE_LOCK = threading.Lock()


def machine(refresh: bool = False) -> HardwareInfo:
    """This computer's hardware, detected once (llama.cpp's probe is not free)."""
    from desktop_app.core import hardware

    with _HARDWARE_LOCK:
        if refresh or not _HARDWARE:
            _HARDWARE[:] = [hardware.detect()]
        return _HARDWARE[0]


@dataclass(frozen=True)
class FitBadge:
    """A file's fit at one context length, ready to show."""

    verdict: Verdict
    label: str
    detail: str = ""
    result: FitResult | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verdict": self.verdict, "label": self.label, "detail": self.detail}
        if self.result is not None:
            data["plan"] = self.result.to_dict()
        return data


def badge_for(info: GGUFInfo, n_ctx: int, hw: HardwareInfo | None = None, kv_type: str = "f16") -> FitBadge:
    """The fit of a model (its header) at ``n_ctx`` on this machine; pure computation."""
    result = fit_plan.plan(info, hw or machine(), n_ctx, kv_type)
    label = VERDICT_LABELS.get(result.verdict, result.verdict)
    if result.verdict is Verdict.PARTIAL_GPU:
        detail = f"{result.gpu_layers} of {result.n_layers} layers on the GPU"
    elif result.verdict is Verdict.TOO_LARGE:
        detail = (
            f"largest context that fits: {result.max_ctx:,} tokens"
            if result.max_ctx > 0
            else "more memory than this computer has"
        )
    else:
        detail = f"up to {result.max_ctx:,} tokens of context"
    return FitBadge(result.verdict, label, detail, result)


def remote_badge(server: str) -> FitBadge:
    """A model on a server: it runs in the server's memory, so this computer's fit does not apply."""
    return FitBadge(
        Verdict.REMOTE, "Fit check does not apply", f"the model runs on {server}, in its memory, not this computer's"
    )


def unknown_badge(reason: str) -> FitBadge:
    return FitBadge(Verdict.UNKNOWN, "Fit unknown", reason)


def safe_badge(info: GGUFInfo, n_ctx: int, hw: HardwareInfo | None = None) -> FitBadge:
    """:func:`badge_for`, but a failure of the fit computation (a bug, or a header it cannot
    plan for) shows as an unknown fit instead of stopping the listing; it is logged."""
    try:
        return badge_for(info, n_ctx, hw)
    except Exception:
        log.exception("Computing the fit of %s failed", info.name or "a model")
        return unknown_badge("the fit could not be computed for this file")


def local_badge(model: LocalModel, n_ctx: int, hw: HardwareInfo | None = None) -> FitBadge:
    """How ``model`` fits this machine at ``n_ctx`` (header cached; no network)."""
    from desktop_app.core.models.library import read_header

    try:
        info = read_header(model.path)
    except (ModelLoadError, OSError) as exc:
        return unknown_badge(str(exc))
    return safe_badge(info, n_ctx, hw)
