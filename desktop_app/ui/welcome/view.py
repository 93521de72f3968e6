"""The first-run page ("Getting started"): what this computer can run, the starter model ready to
chat, and recommended open models that fit, each leading to its files in Models.

Shown at the first start until closed (remembered in the settings), and from Help › Getting
started. It asks the network nothing: the hardware is read on a pool thread (llama.cpp's build
and NVML are not instant), the recommended models are local data planned by the fit code, and
only "Open in Models" asks the Hub, because the user asked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.cancel import CancelToken
from desktop_app.core.fit.result import Verdict
from desktop_app.core.hardware import HardwareInfo
from desktop_app.core.hub.recommended import QUANT, Recommendation
from desktop_app.core.models import library
from desktop_app.ui.context import AppContext
from desktop_app.ui.shared.background import JobRunner
from desktop_app.ui.shared.labels import Label
from desktop_app.ui.welcome.recommended_list import RecommendedList

STARTER_NOTE = (
    "It is tiny (135 million parameters), so it answers at once but often wrongly, and it is far too "
    "small to answer questions about your documents. For real work, find a bigger model."
)


def survey(n_ctx: int) -> tuple[HardwareInfo, list[Recommendation]]:
    """Runs on a pool thread: this computer, and how each recommended model would fit it."""
    from desktop_app.core.fit.badges import machine
    from desktop_app.core.hub import recommended

    hw = machine()
    return hw, recommended.recommend(n_ctx, hw)


def _scrolling(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(widget)
    return area


class WelcomeView(QWidget):
    chat_requested = Signal(object)  # Path: "Start chatting" with the starter model
    repo_requested = Signal(str)  # a recommended model's repository, to open in Models › Browse
    closed = Signal()

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomeView")
        self._context = context
        self.starter: Path | None = library.starter_model_path()
        self.hardware: HardwareInfo | None = None
        self.recommendations: list[Recommendation] = []

        self.pages = QStackedWidget()
        self.pages.addWidget(_scrolling(self._start_page()))
        self.pages.addWidget(_scrolling(self._models_page()))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)

        context.models.model_changed.connect(self._on_models_changed)
        context.models.state_changed.connect(self._on_models_changed)
        self._jobs = JobRunner(self, max_threads=1)
        self._jobs.succeeded.connect(self._on_jobs_succeeded)
        self._jobs.failed.connect(self._on_jobs_failed)
        self.refresh()
        self._show_starter()

    # -- the two pages -----------------------------------------------------------------------------

    def _start_page(self) -> QWidget:
        title = Label("Welcome to Hearth")
        title.setObjectName("sectionTitle")
        intro = Label(
            "Hearth runs open language models on this computer. What you type, and your documents, stay on it."
        )
        intro.setWordWrap(True)

        self.hardware_label = Label("Looking at this computer…")
        self.hardware_label.setObjectName("hardwareSummary")
        self.hardware_label.setWordWrap(True)
        self.hardware_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hardware_box = QGroupBox("What this computer can run")
        hardware_layout = QVBoxLayout(hardware_box)
        hardware_layout.addWidget(self.hardware_label)
        self.fits_label = Label("")
        self.fits_label.setWordWrap(True)
        hardware_layout.addWidget(self.fits_label)

        self.starter_label = Label("")
        self.starter_label.setWordWrap(True)
        self.start_button = QPushButton("Start chatting")
        self.start_button.setObjectName("startChattingButton")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start_chatting)
        starter_note = Label(STARTER_NOTE)
        starter_note.setObjectName("hintLabel")
        starter_note.setWordWrap(True)
        starter_box = QGroupBox("Try it now")
        starter_layout = QVBoxLayout(starter_box)
        starter_row = QHBoxLayout()
        starter_row.addWidget(self.starter_label, 1)
        starter_row.addWidget(self.start_button)
        starter_layout.addLayout(starter_row)
        starter_layout.addWidget(starter_note)

        self.bigger_button = QPushButton("Find a bigger model ›")
        self.bigger_button.setObjectName("findBiggerModelButton")
        self.bigger_button.clicked.connect(self.show_models)
        bigger_note = Label(
            "Recommended open models that fit this computer: their licence, size, context, and whether "
            "their training data is published as well as their weights."
        )
        bigger_note.setWordWrap(True)
        bigger_box = QGroupBox("Find a bigger model")
        bigger_layout = QHBoxLayout(bigger_box)
        bigger_layout.addWidget(bigger_note, 1)
        bigger_layout.addWidget(self.bigger_button)

        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close_page)
        again = Label("Open this page again from Help › Getting started.")
        again.setObjectName("hintLabel")
        bottom = QHBoxLayout()
        bottom.addWidget(again, 1)
        bottom.addWidget(self.close_button)

        page = QWidget()
        page.setMaximumWidth(900)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(28, 20, 28, 20)
        layout.setSpacing(12)
        for widget in (title, intro, hardware_box, starter_box, bigger_box):
            layout.addWidget(widget)
        layout.addStretch(1)
        layout.addLayout(bottom)
        return page

    def _models_page(self) -> QWidget:
        back = QPushButton("‹ Back")
        back.clicked.connect(self.show_start)
        title = Label("Recommended open models")
        title.setObjectName("sectionTitle")
        self.models_note = Label("")
        self.models_note.setObjectName("hintLabel")
        self.models_note.setWordWrap(True)
        self.models_list = RecommendedList()
        self.models_list.open_requested.connect(self._on_open_requested)
        head = QHBoxLayout()
        head.addWidget(back)
        head.addWidget(title, 1)
        page = QWidget()
        page.setMaximumWidth(900)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(28, 20, 28, 20)
        layout.addLayout(head)
        layout.addWidget(self.models_note)
        layout.addWidget(self.models_list)
        layout.addStretch(1)
        return page

    # -- actions (callable from tests) -------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return self._context.settings.load.n_ctx

    def refresh(self) -> None:
        """Reads the hardware and plans the recommended models again (memory free changes)."""
        n_ctx = self.n_ctx

        def work(_cancel: CancelToken, _report: Callable[[Any], None]) -> tuple[HardwareInfo, list[Recommendation]]:
            return survey(n_ctx)

        self._jobs.start("survey", work)

    def start_chatting(self) -> None:
        if self.starter is not None:
            self.dismiss()
            self.chat_requested.emit(self.starter)

    def show_models(self) -> None:
        self.pages.setCurrentIndex(1)

    def show_start(self) -> None:
        self.pages.setCurrentIndex(0)

    def close_page(self) -> None:
        self.dismiss()
        self.closed.emit()

    def dismiss(self) -> None:
        """Not shown at start any more (Help › Getting started still opens it)."""
        settings = self._context.settings
        if not settings.welcome_dismissed:
            settings.welcome_dismissed = True
            self._context.save_settings(self)

    def shutdown(self) -> None:
        self._jobs.shutdown()

    # -- what it shows -----------------------------------------------------------------------------

    def _show_starter(self) -> None:
        if self.starter is None:
            self.starter_label.setText("No starter model is installed with this copy of Hearth: find a model below.")
            self.start_button.setEnabled(False)
            return
        host = self._context.models
        loaded = host.model is not None and host.model.path.resolve() == self.starter.resolve()
        if loaded:
            text = "SmolLM2 135M, the starter model, is loaded and ready to chat."
        elif host.busy and host.model is None:
            text = "SmolLM2 135M, the starter model, is loading…"
        else:
            text = "SmolLM2 135M, the starter model, came with Hearth and is ready to chat."
        self.starter_label.setText(text)
        self.start_button.setEnabled(True)

    def _show_survey(self, hw: HardwareInfo, recs: list[Recommendation]) -> None:
        from desktop_app.core.hardware import summary_lines

        self.hardware = hw
        self.recommendations = recs
        self.hardware_label.setText("\n".join(summary_lines(hw)))
        fitting = [r for r in recs if r.fits]
        largest = max(fitting, key=lambda r: r.model.parameters) if fitting else None
        if largest is None:
            fits = "None of the recommended models fits in the memory free now."
        else:
            fits = (
                f"{len(fitting)} of the {len(recs)} recommended models fit in the memory free now, up to "
                f"{largest.model.name}."
            )
            if len(fitting) < len(recs):
                fits += (
                    f" {len(recs) - len(fitting)} need more memory than this computer has; the list says what "
                    "would make each fit."
                )
            if not any(r.badge.verdict is Verdict.FULL_GPU for r in fitting):
                fits += " Without a GPU, large models answer slowly: start with one of 1 to 4 billion parameters."
        self.fits_label.setText(fits)
        self.models_note.setText(
            f"Where each would run, estimated for a {QUANT} file at {self.n_ctx:,} tokens of context from the "
            "model's published architecture (the real files' fit is shown when you open one). Smaller models "
            "answer faster; larger ones answer better. The cards are from Hearth's list; opening a model "
            "shows its own Hugging Face card."
        )
        self.models_list.set_recommendations(recs)

    # -- reactions ---------------------------------------------------------------------------------

    @Slot(object)
    def _on_models_changed(self, _value: object) -> None:
        self._show_starter()

    @Slot(str, object)
    def _on_jobs_succeeded(self, _kind: str, result: object) -> None:
        assert isinstance(result, tuple)
        hw, recs = result
        self._show_survey(hw, recs)

    @Slot(str, str, str)
    def _on_jobs_failed(self, _kind: str, message: str, hint: str) -> None:
        self.hardware_label.setText(f"{message} {hint}".strip())

    @Slot(str)
    def _on_open_requested(self, repo_id: str) -> None:
        self.dismiss()
        self.repo_requested.emit(repo_id)
