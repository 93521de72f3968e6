"""Typed settings with defaults, persisted as JSON in the data directory.

Unknown keys in the file are ignored and missing ones take their defaults, so an
older or newer settings file never stops the app from starting.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.core import json_settings, paths
from desktop_app.core.atomic_files import write_json_atomically
from desktop_app.core.json_settings import fill


@dataclass
class SamplingSettings:
    """How the next token is chosen. ``seed`` -1 means a fresh random seed per reply
    (the seed actually used is still recorded with the reply)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 1024
    seed: int = -1


@dataclass
class LoadSettings:
    """How a model is loaded. ``n_gpu_layers`` -1 is "auto": as many layers as the fit check
    says fit in VRAM at this context (all when the model fits); ``n_threads`` 0 lets Hearth
    pick (physical cores)."""

    n_ctx: int = 4096
    n_threads: int = 0
    n_gpu_layers: int = -1
    flash_attn: bool = True


@dataclass
class ServerSettings:
    """Hearth's own OpenAI-compatible server: off until the user turns it on, and on the
    loopback address unless they choose another (which then needs the API key)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8765
    save_conversations: bool = True  # each served answer as an "API: …" conversation (clients may opt out)


@dataclass
class RemoteEndpoint:
    """An OpenAI-compatible server the user added (llama-server, vLLM, Ollama, another Hearth).
    Its key, if any, is kept by :mod:`desktop_app.core.secrets`, never here."""

    id: str = ""
    name: str = ""
    url: str = ""
    has_key: bool = False
    n_ctx: int = 0  # 0: what the server reports (else 4096 is assumed, and said so)
    concurrency: int = 4  # requests sent at once by dataset runs


@dataclass
class Settings:
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    load: LoadSettings = field(default_factory=LoadSettings)
    system_prompt: str = "You are a helpful assistant."
    last_model: str = ""
    extra_model_paths: list[str] = field(default_factory=list)
    server: ServerSettings = field(default_factory=ServerSettings)
    endpoints: list[RemoteEndpoint] = field(default_factory=list)
    # The chat template chosen per model file (resolved path -> a name in inference.templates.CHOICES).
    model_templates: dict[str, str] = field(default_factory=dict)
    # The first-run page ("Getting started") was closed: it is not shown at start any more.
    welcome_dismissed: bool = False

    def template_for(self, model_path: str | Path) -> str:
        return self.model_templates.get(str(Path(model_path).resolve()), "auto")

    def set_template_for(self, model_path: str | Path, name: str) -> None:
        key = str(Path(model_path).resolve())
        if name == "auto":
            self.model_templates.pop(key, None)
        else:
            self.model_templates[key] = name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        return cls(
            sampling=fill(SamplingSettings, data.get("sampling")),
            load=fill(LoadSettings, data.get("load")),
            system_prompt=str(data.get("system_prompt", cls.system_prompt)),
            last_model=str(data.get("last_model", "")),
            extra_model_paths=[str(p) for p in data.get("extra_model_paths", []) or []],
            server=fill(ServerSettings, data.get("server")),
            endpoints=[fill(RemoteEndpoint, e) for e in data.get("endpoints") or [] if isinstance(e, dict)],
            model_templates={
                str(k): str(v) for k, v in (data.get("model_templates") or {}).items() if isinstance(v, str)
            }
            if isinstance(data.get("model_templates"), dict)
            else {},
            welcome_dismissed=data.get("welcome_dismissed") is True,
        )


def load(path: Path | None = None) -> Settings:
    return Settings.from_dict(json_settings.read_object(path or paths.settings_path(), "Settings file"))


def save(settings: Settings, path: Path | None = None) -> None:
    """Writes atomically, so a crash mid-write never leaves a broken file; HearthError when it cannot."""
    write_json_atomically(path or paths.settings_path(), settings.to_dict())
