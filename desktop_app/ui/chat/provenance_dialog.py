"""Everything that produced one reply: model file, quantisation, seed, settings, timings."""

from __future__ import annotations

import dataclasses
import html
import json
import time
from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPushButton, QVBoxLayout, QWidget

from desktop_app.core.conversations.store import Provenance, StoredMessage
from desktop_app.core.inference.engine import Timings
from desktop_app.core.units import human_bytes
from desktop_app.ui.shared.safe_text import SafeTextBrowser

FINISH_WORDS = {
    "stop": "finished by the model",
    "length": "cut at the token limit",
    "cancelled": "stopped by you",
    "crashed": "cut short: the model's engine stopped (see Help › Engine crash log)",
}


def provenance_dict(message: StoredMessage) -> dict[str, Any]:
    assert message.provenance is not None
    data = dataclasses.asdict(message.provenance)
    data["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(message.created_at))
    return data


# Settings as llama.cpp names them -> plain words; the name itself follows in grey, to look up.
SETTING_WORDS = {
    "temperature": "randomness (temperature)",
    "top_p": "word choice breadth",
    "top_k": "words considered at each step",
    "min_p": "least likely word allowed",
    "repeat_penalty": "repetition penalty",
    "max_tokens": "longest answer, in tokens",
    "seed": "seed",
    "n_ctx": "context length, in tokens",
    "n_threads": "processor threads (0: automatic)",
    "n_gpu_layers": "layers on the GPU (-1: as many as fit)",
    "flash_attn": "faster attention maths",
    "n_batch": "prompt tokens read at once",
    "kv_type": "precision of the context cache",
    "use_mmap": "model file mapped, not copied",
}


def _key_html(key: str) -> str:
    words = SETTING_WORDS.get(key)
    if words is None or words == key:
        return html.escape(key)
    return f"{html.escape(words)} <span style='color:#8c959f;'>({html.escape(key)})</span>"


def _rows(title: str, values: dict[str, Any]) -> str:
    """A titled group of rows; the groups share one table so their columns line up."""
    head = (
        f"<tr><td colspan='2' style='padding-top:10px; font-weight:600; font-size:large;'>"
        f"{html.escape(title)}</td></tr>"
    )
    cells = "".join(
        f"<tr><td style='color:#57606a; padding-right:16px;'>{_key_html(str(k))}</td>"
        f"<td>{html.escape(_value(v))}</td></tr>"
        for k, v in values.items()
    )
    return head + cells


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _prompt_speed(timings: Timings) -> str:
    """A prompt read entirely from the cache has no speed to speak of: say so, not "0.0 tok/s"."""
    if not timings.prompt_eval_tokens and timings.prompt_tokens:
        return "— (the whole prompt was already in the cache)"
    return f"{timings.prompt_tok_s:.1f} tokens a second"


def provenance_html(p: Provenance) -> str:
    used = p.settings_record
    timings = p.timings_record
    parts = [
        _rows(
            "Model",
            {
                "name": p.model_name,
                "quantisation": p.quant,
                "sha256": p.model_sha256 or "(not computed)",
                "file": p.model_path,
                "size": f"{human_bytes(p.model_size)} ({p.model_size:,} bytes)",
                "llama.cpp": p.llama_cpp_version,
                "chat template": p.template_description,
            },
        ),
        _rows(
            "Reply",
            {
                "seed": p.seed,
                "ended": FINISH_WORDS.get(p.finish, p.finish),
                "older messages left out": p.dropped_messages,
            },
        ),
        _rows("Sampling", used.sampling),  # every setting as recorded, by its name
        _rows("Loading", used.load),
        _rows(
            "Timings",
            {
                "prompt tokens": f"{timings.prompt_tokens:,} "
                f"({timings.prompt_eval_tokens:,} evaluated, the rest from cache)",
                "prompt speed": _prompt_speed(timings),
                "generated tokens": f"{timings.gen_tokens:,}",
                "generation speed": f"{timings.gen_tok_s:.1f} tokens a second",
                "time to first token": f"{timings.ttft_s:.2f} s",
                "total": f"{timings.total_s:.2f} s",
            },
        ),
        _rows("System prompt", {"text": used.system_prompt}),
    ]
    remote = used.remote
    if remote is not None:  # a reply from a model on a server
        parts.insert(1, _rows("Server", {
            "endpoint": f"{remote.endpoint} ({remote.url})",
            "software": f"{remote.server.kind} {remote.server.version}".strip(),
            "model asked for": remote.model_requested,
            "model that answered": remote.model_reported or "(not reported)",
            "not known": "; ".join(remote.unavailable) or "nothing",
        }))  # fmt: skip
    api = used.api
    if api is not None:  # an answer Hearth's own server gave a program
        parts.append(_rows("API request", {
            "endpoint": api.endpoint,
            "client": api.client,
            "response id": api.id,
            "streamed": api.stream,
            "output format": api.response_format.type if api.response_format else "text",
        }))  # fmt: skip
    return "<table cellspacing='2'>" + "".join(parts) + "</table>"


class ProvenanceDialog(QDialog):
    def __init__(self, message: StoredMessage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert message.provenance is not None
        self._message = message
        self.setWindowTitle("How this reply was made")
        self.resize(720, 660)
        self.view = SafeTextBrowser()  # shows what a model file and a server said
        self.view.setHtml(provenance_html(message.provenance))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy as JSON")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)

    def as_json(self) -> str:
        return json.dumps(provenance_dict(self._message), indent=2)

    @Slot()
    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.as_json())
        self.copy_button.setText("Copied")
