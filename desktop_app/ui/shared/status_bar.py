"""The status bar: loaded model, backend, GPU layers, memory in use, speed, context used."""

from __future__ import annotations

import psutil
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from desktop_app.core.inference.engine import LoadedModel, Reply
from desktop_app.core.units import human_bytes
from desktop_app.ui.context import AppContext
from desktop_app.ui.model_host import HostState
from desktop_app.ui.shared.labels import Label

MEMORY_REFRESH_MS = 2000


def _field(name: str, tip: str) -> QLabel:
    label = Label("")
    label.setTextFormat(Qt.TextFormat.PlainText)  # a model's or server's name is not Hearth's markup
    label.setObjectName(name)
    label.setToolTip(tip)
    return label


class ModelStatusBar(QStatusBar):
    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self._process = psutil.Process()
        self.model_label = _field("statusModel", "The model loaded now")
        self.backend_label = _field("statusBackend", "Where the model runs (the llama.cpp backend)")
        self.gpu_layers_label = _field("statusGpuLayers", "Layers offloaded to the GPU")
        self.memory_label = _field("statusMemory", "Memory Hearth uses now (resident set size)")
        self.speed_label = _field("statusSpeed", "Generation speed of the last reply")
        self.context_label = _field("statusContext", "Tokens in the context after the last reply / context size")
        self.addWidget(self.model_label)
        for label in (
            self.backend_label,
            self.gpu_layers_label,
            self.context_label,
            self.speed_label,
            self.memory_label,
        ):
            self.addPermanentWidget(label)

        self._memory_timer = QTimer(self)
        self._memory_timer.setInterval(MEMORY_REFRESH_MS)
        self._memory_timer.timeout.connect(self._on_memory_timer_timeout)
        self._memory_timer.start()

        models = context.models
        models.model_changed.connect(self._on_models_model_changed)
        models.remote_changed.connect(self._on_models_model_changed)
        models.reply_finished.connect(self._on_models_reply_finished)
        models.rag_finished.connect(self._on_models_rag_finished)
        models.state_changed.connect(self._on_models_state_changed)
        self._show_model(models.model)
        self._on_memory_timer_timeout()

    def _show_model(self, model: LoadedModel | None) -> None:
        chosen = self._context.models.remote
        if model is None and chosen is not None:  # a model on a server: its memory is not this computer's
            self.model_label.setText(f"{chosen.name} · remote")
            self.backend_label.setText(chosen.backend)
            self.gpu_layers_label.setText("")
            self.context_label.setText(f"Context 0 / {chosen.n_ctx:,}")
            self.speed_label.setText("")
            return
        if model is None:
            self.model_label.setText("No model loaded")
            self.backend_label.setText("")
            self.gpu_layers_label.setText("")
            self.context_label.setText("")
            self.speed_label.setText("")
            return
        self.model_label.setText(f"{model.name} · {model.info.quant}")
        self.backend_label.setText(model.backend)
        self.gpu_layers_label.setText(f"GPU layers {model.n_gpu_layers}")
        self.context_label.setText(f"Context 0 / {model.n_ctx:,}")
        self.speed_label.setText("")

    def clear_last_reply(self) -> None:
        """Another conversation is shown: the last reply's speed and context no longer describe it."""
        self._show_model(self._context.models.model)

    @Slot(object)
    def _on_models_model_changed(self, _model: object) -> None:
        self._show_model(self._context.models.model)
        self._on_memory_timer_timeout()

    @Slot(int, object, object)
    def _on_models_reply_finished(self, _request_id: int, reply: Reply, _provenance: object) -> None:
        model = self._context.models.model or self._context.models.remote
        self.speed_label.setText(f"{reply.timings.gen_tok_s:.1f} tok/s")
        if model is not None:
            self.context_label.setText(f"Context {reply.context_used:,} / {model.n_ctx:,}")

    @Slot(int, object, object, object)
    def _on_models_rag_finished(self, request_id: int, reply: Reply | None, provenance: object, _rag: object) -> None:
        if reply is not None:  # None: nothing relevant was found and the model was not asked
            self._on_models_reply_finished(request_id, reply, provenance)

    @Slot(object)
    def _on_models_state_changed(self, state: HostState) -> None:
        models = self._context.models
        text = f"{models.model.name} · {models.model.info.quant}" if models.model else "No model loaded"
        if models.model is None and models.remote is not None:
            text = f"{models.remote.name} · remote"
        if state is HostState.loading and models.current_load is not None:
            text = f"Loading {models.current_load.path.name}…"
        elif state is HostState.generating:
            text += " — writing…"
        self.model_label.setText(text)

    @Slot()
    def _on_memory_timer_timeout(self) -> None:
        try:
            rss = self._process.memory_info().rss
        except psutil.Error:
            return
        self.memory_label.setText(f"Memory {human_bytes(rss)}")
