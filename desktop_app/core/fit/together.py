"""Several models loaded at once (a judge beside the judged model, the chat beside a dataset run):
the fit check counts them all.

A loaded model holds less than its plan until its context fills (the KV cache's pages are touched
as it grows), so the question is whether all the plans fit in the memory free now plus what the
loaded models' processes hold already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop_app.core.errors import HearthError
from desktop_app.core.fit import plan as fit_plan
from desktop_app.core.units import human_bytes

if TYPE_CHECKING:
    from desktop_app.core.hardware import HardwareInfo
    from desktop_app.core.models.gguf_meta import GGUFInfo


@dataclass(frozen=True)
class Loaded:
    """A model loaded now: its header, its context, and what its process holds in RAM now."""

    name: str
    info: GGUFInfo
    n_ctx: int
    rss: int


def check_room(
    info: GGUFInfo, name: str, n_ctx: int, others: Sequence[Loaded], hw: HardwareInfo | None = None
) -> None:
    """Refuses in plain words when ``info`` at ``n_ctx`` does not fit in RAM beside ``others``.
    Nothing to check alone: a single model's fit is the loader's and the fit badge's business."""
    if not others:
        return
    if hw is None:
        from desktop_app.core import hardware

        hw = hardware.detect()
    margin = max(fit_plan.RAM_MARGIN_MIN, int(hw.ram_total * fit_plan.RAM_MARGIN_SHARE))
    budget = hw.ram_available + sum(m.rss for m in others) - margin
    new = fit_plan.plan(info, hw, n_ctx).ram_required
    loaded = sum(fit_plan.plan(m.info, hw, m.n_ctx).ram_required for m in others)
    if new + loaded <= budget:
        return
    names = ", ".join(f"“{m.name}”" for m in others)
    raise HearthError(
        f"“{name}” does not fit in memory beside {names}: together they need about "
        f"{human_bytes(new + loaded)}, and about {human_bytes(max(0, budget))} is free for models.",
        "Unload the other model first, or load this one with a smaller context.",
    )
