"""Glue between the conversation store and the engine, shared by the GUI and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from desktop_app.core.conversations.store import Provenance, StoredMessage
from desktop_app.core.inference.engine import LoadedModel, Message, Reply
from desktop_app.core.settings import SamplingSettings


def build_messages(system_prompt: str, history: Sequence[StoredMessage]) -> list[Message]:
    """The messages the model sees: the system prompt, then the stored turns."""
    messages = [Message("system", system_prompt)] if system_prompt.strip() else []
    messages.extend(Message(m.role, m.content) for m in history if m.role in ("user", "assistant"))
    return messages


def make_provenance(
    model: LoadedModel, sha256: str, sampling: SamplingSettings, system_prompt: str, reply: Reply
) -> Provenance:
    """Everything needed to reproduce ``reply``; the seed is the one actually used."""
    used = asdict(sampling)
    used["seed"] = reply.seed
    return Provenance(
        model_name=model.name,
        model_path=str(model.path),
        model_size=model.path.stat().st_size,
        model_sha256=sha256,
        quant=model.info.quant,
        llama_cpp_version=model.llama_cpp_version,
        settings={
            "load": {
                "n_ctx": model.n_ctx,
                "n_threads": model.n_threads,
                "n_gpu_layers": model.n_gpu_layers,
                "flash_attn": model.settings.flash_attn,
                "backend": model.backend,
            },
            "sampling": used,
            "system_prompt": system_prompt,
            "template": model.template.to_dict(),
        },
        seed=reply.seed,
        timings=reply.timings.to_dict(),
        finish=reply.finish,
        dropped_messages=reply.dropped_messages,
    )
