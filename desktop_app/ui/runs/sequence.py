"""What the Runs page waits for before its next step, in one place.

A run is a chain: the task is checked against the dataset (a plan, off the GUI thread), the
model is loaded on the window's model thread, then the run starts; with "Then also" (or
Compare's *On my dataset…*) the second model is loaded and run on the same plan after the
first finishes, and the two runs are compared. Replaying or resuming first finds the run's
model by its sha256. Each wait is one field here, set when the step is asked for and taken
(cleared) when it happens, so a step runs once and a failure drops what waited on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.runs.runner import RunPlan
from desktop_app.core.runs.summary import Summary


@dataclass(frozen=True)
class SecondRun:
    """After the first of two runs: the same plan with the second model."""

    plan: RunPlan
    model: Path


@dataclass(frozen=True)
class CompareRuns:
    """After the second of two runs: compare it with the first."""

    first: int
    second: int


class RunSequence:
    def __init__(self) -> None:
        self._after_plan: Callable[[RunPlan], None] | None = None
        self._after_locate: tuple[Callable[[], None], Any] | None = None
        self._after_load: tuple[Path, Callable[[], None]] | None = None
        self._second: tuple[RunPlan, Path] | None = None
        self._first_run: int | None = None

    # -- the plan and the run's model --------------------------------------------------------------

    def plan_then(self, then: Callable[[RunPlan], None]) -> None:
        """``then(plan)`` once the task is checked against the dataset (a newer request replaces it)."""
        self._after_plan = then

    def planned(self, plan: RunPlan) -> None:
        then, self._after_plan = self._after_plan, None
        if then is not None:
            then(plan)

    def locate_then(self, then: Callable[[], None], model: Any) -> None:
        """Waits for the run's ``model`` (the manifest's record of it) to be found on this computer."""
        self._after_locate = (then, model)

    def located(self) -> tuple[Callable[[], None], Any] | None:
        """What waited for the model to be found, and the manifest's record of the model."""
        pending, self._after_locate = self._after_locate, None
        return pending

    def load_then(self, path: Path, then: Callable[[], None]) -> None:
        """``then()`` once ``path`` is the window's model and the model thread is free."""
        self._after_load = (Path(path), then)

    def take_loaded(self, loaded: Path | None, busy: bool) -> Callable[[], None] | None:
        """What waited for a model, when ``loaded`` is it and the host is free (the host reports a
        new model a moment before it leaves its loading state, and a job submitted in between is
        refused as busy); None while it still waits, or when nothing does."""
        pending = self._after_load
        if pending is None or busy or loaded is None or loaded.resolve() != pending[0].resolve():
            return None
        self._after_load = None
        return pending[1]

    def load_failed(self) -> bool:
        """The model did not load: what waited for it is dropped (a second run too). True when
        something waited."""
        if self._after_load is None:
            return False
        self._after_load = None
        self._second = None
        return True

    # -- two models in a row ---------------------------------------------------------------------------

    def start_pair(self, plan: RunPlan, first: Path | None, second: Path | None) -> None:
        """A new run with ``first``, then ``second`` when it is another model."""
        other = second is not None and first is not None and second.resolve() != first.resolve()
        self._second = (plan, second) if other and second is not None else None
        self._first_run = None

    def after_run(self, summary: Summary) -> SecondRun | CompareRuns | None:
        """The next step once a run ended: the second model's run, the comparison, or none (a
        run that did not finish ends the pair)."""
        if summary.status != "done":
            self._second = None
            return None
        if self._second is not None:
            plan, model = self._second
            self._second = None
            self._first_run = summary.run_id
            return SecondRun(plan, model)
        if self._first_run is not None:
            first, self._first_run = self._first_run, None
            return CompareRuns(first, summary.run_id)
        return None

    def run_failed(self) -> None:
        self._second = None
