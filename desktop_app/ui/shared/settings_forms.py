"""Forms for the sampling and load settings, bound to the live settings.

The same forms sit in the chat's side panel and in the Settings section; a change
in one is saved at once and shows up in the other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QSpinBox, QWidget

from desktop_app.core.settings import LoadSettings, SamplingSettings
from desktop_app.ui.context import AppContext

SEED_MAX = 2**31 - 1
SPIN_MIN_WIDTH = 80


def double_spin(minimum: float, maximum: float, step: float, tip: str, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(minimum, maximum)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setToolTip(tip)
    box.setMinimumWidth(SPIN_MIN_WIDTH)  # not the width of the longest number: the side panel is narrow
    return box


def integer_spin(minimum: int, maximum: int, tip: str, special: str = "", step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(minimum, maximum)
    box.setSingleStep(step)
    box.setToolTip(tip)
    if special:
        box.setSpecialValueText(special)  # shown for the minimum
    box.setMinimumWidth(SPIN_MIN_WIDTH)
    return box


def watch_edits(widgets: Iterable[QWidget], slot: Callable[[], None]) -> None:
    """Calls ``slot`` after the user edits any of ``widgets`` (a line edit when its editing ends)."""
    for widget in widgets:
        if isinstance(widget, QCheckBox):
            widget.toggled.connect(slot)
        elif isinstance(widget, QSpinBox | QDoubleSpinBox):
            widget.valueChanged.connect(slot)
        elif isinstance(widget, QLineEdit):
            widget.editingFinished.connect(slot)
        elif isinstance(widget, QComboBox):
            widget.currentIndexChanged.connect(slot)


@contextmanager
def signals_blocked(widgets: Iterable[QWidget]) -> Iterator[None]:
    """Shows stored values in ``widgets`` without their signals taking them for the user's edits."""
    blocked = list(widgets)
    for widget in blocked:
        widget.blockSignals(True)
    try:
        yield
    finally:
        for widget in blocked:
            widget.blockSignals(False)


def form_fields(layout: QFormLayout) -> list[QWidget]:
    """The widgets placed directly in ``layout`` (its labels and fields)."""
    widgets: list[QWidget] = []
    for i in range(layout.count()):
        item = layout.itemAt(i)
        widget = item.widget() if item is not None else None
        if widget is not None:
            widgets.append(widget)
    return widgets


class _BoundForm(QWidget):
    """A form that writes every edit to the live settings and follows changes made elsewhere."""

    edited = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        context.settings_changed.connect(self._on_context_settings_changed)

    def _watch(self, *widgets: QWidget) -> None:
        watch_edits((w for w in widgets if isinstance(w, QCheckBox | QSpinBox | QDoubleSpinBox)), self._on_field_edited)

    def _fields(self) -> list[QWidget]:
        return form_fields(self._layout)

    @Slot()
    def _on_field_edited(self) -> None:
        self._store()
        self._context.save_settings(self)
        self.edited.emit()

    @Slot(object)
    def _on_context_settings_changed(self, source: QObject | None) -> None:
        if source is not self:
            self.refresh()

    def refresh(self) -> None:
        with signals_blocked(self._fields()):
            self._show()

    def _show(self) -> None:
        raise NotImplementedError

    def _store(self) -> None:
        raise NotImplementedError


class SamplingForm(_BoundForm):
    """Temperature, top-p, top-k, min-p, repeat penalty, max tokens, seed."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.temperature = double_spin(
            0.0, 2.0, 0.05, "Higher is more varied, lower more focused; 0 always picks the likeliest token."
        )
        self.top_p = double_spin(
            0.0, 1.0, 0.01, "Sample only from the likeliest tokens that together reach this probability."
        )
        self.top_k = integer_spin(
            0, 1000, "Sample only from this many likeliest tokens (Off: no limit).", special="Off"
        )
        self.min_p = double_spin(
            0.0, 1.0, 0.01, "Leave out tokens less likely than this fraction of the likeliest one."
        )
        self.repeat_penalty = double_spin(0.5, 2.0, 0.05, "Above 1 makes the model less likely to repeat itself.")
        self.max_tokens = integer_spin(1, 131_072, "The longest reply, in tokens.", step=64)
        self.seed = integer_spin(
            -1,
            SEED_MAX,
            "Fix the seed to get the same reply again for the same prompt (Random: a new seed each "
            "time; the seed used is recorded with every reply).",
            special="Random",
        )
        for label, widget in (
            ("Temperature", self.temperature),
            ("Top-p", self.top_p),
            ("Top-k", self.top_k),
            ("Min-p", self.min_p),
            ("Repeat penalty", self.repeat_penalty),
            ("Max tokens", self.max_tokens),
            ("Seed", self.seed),
        ):
            self._layout.addRow(label, widget)
        self.refresh()
        self._watch(*self._fields())

    def _show(self) -> None:
        s = self._context.settings.sampling
        self.temperature.setValue(s.temperature)
        self.top_p.setValue(s.top_p)
        self.top_k.setValue(s.top_k)
        self.min_p.setValue(s.min_p)
        self.repeat_penalty.setValue(s.repeat_penalty)
        self.max_tokens.setValue(s.max_tokens)
        self.seed.setValue(s.seed)

    def _store(self) -> None:
        self._context.settings.sampling = SamplingSettings(
            temperature=self.temperature.value(),
            top_p=self.top_p.value(),
            top_k=self.top_k.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            max_tokens=self.max_tokens.value(),
            seed=self.seed.value(),
        )

    def reset(self) -> None:
        self._context.settings.sampling = SamplingSettings()
        self.refresh()
        self._context.save_settings(self)


class LoadForm(_BoundForm):
    """Context length, threads, GPU layers, flash attention: applied at the next load."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(context, parent)
        self.n_ctx = integer_spin(
            256,
            262_144,
            "How many tokens the model keeps in view (prompt and reply). More uses more memory; "
            "a model's own maximum is never exceeded.",
            step=512,
        )
        self.n_ctx.setSuffix(" tokens")
        self.n_threads = integer_spin(
            0, 512, "CPU threads for generation (Automatic: one per physical core).", special="Automatic"
        )
        self.n_gpu_layers = integer_spin(
            -1,
            999,
            "Layers to run on the GPU. Auto: as many as the fit check says fit in free VRAM at this context "
            "(999: all of them). Ignored when llama.cpp has no GPU support.",
            special="Auto",
        )
        self.flash_attn = QCheckBox("Flash attention")
        self.flash_attn.setToolTip("Faster attention that uses less memory, where the backend supports it.")
        self._layout.addRow("Context length", self.n_ctx)
        self._layout.addRow("CPU threads", self.n_threads)
        self._layout.addRow("GPU layers", self.n_gpu_layers)
        self._layout.addRow("", self.flash_attn)
        self.refresh()
        self._watch(*self._fields())

    def _show(self) -> None:
        s = self._context.settings.load
        self.n_ctx.setValue(s.n_ctx)
        self.n_threads.setValue(s.n_threads)
        self.n_gpu_layers.setValue(s.n_gpu_layers)
        self.flash_attn.setChecked(s.flash_attn)

    def _store(self) -> None:
        self._context.settings.load = LoadSettings(
            n_ctx=self.n_ctx.value(),
            n_threads=self.n_threads.value(),
            n_gpu_layers=self.n_gpu_layers.value(),
            flash_attn=self.flash_attn.isChecked(),
        )

    def reset(self) -> None:
        self._context.settings.load = LoadSettings()
        self.refresh()
        self._context.save_settings(self)


def load_settings_differ(a: LoadSettings, b: LoadSettings) -> bool:
    return dataclasses.astuple(a) != dataclasses.astuple(b)
