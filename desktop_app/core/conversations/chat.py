"""Glue between the conversation store and the engine, shared by the GUI and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from desktop_app.core.conversations.store import Provenance, StoredMessage
from desktop_app.core.inference.engine import LoadedModel, Message, Reply
from desktop_app.core.inference.remote import RemoteModel, RemoteReply, short_model_name
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


def make_remote_provenance(
    model: RemoteModel, sampling: SamplingSettings, system_prompt: str, reply: RemoteReply
) -> Provenance:
    """What is known of a reply from a server: the endpoint, the model id it reported, what it
    says about itself, and (under ``unavailable``) what it does not say, such as the file's sha256
    (which another Hearth does report, per answer)."""
    used = asdict(sampling)
    used["seed"] = reply.seed
    hearth = reply.server_fields.get("hearth") or {}
    info = model.info
    unavailable = list(info.unavailable)
    if hearth.get("model_sha256"):
        unavailable = [u for u in unavailable if "sha256" not in u]
    settings: dict[str, object] = {
        "load": {"n_ctx": model.n_ctx, "backend": model.backend},
        "sampling": used,
        "system_prompt": system_prompt,
        "remote": {
            "endpoint": model.endpoint_name,
            "url": model.url,
            "model_requested": model.model_id,
            "model_reported": reply.model_reported,
            "server": info.to_dict(),
            "response": reply.server_fields,
            "unavailable": unavailable,
            "notes": list(model.notes),
        },
    }
    if hearth.get("template"):
        settings["template"] = hearth["template"]
    return Provenance(
        model_name=short_model_name(reply.model_reported) if reply.model_reported else model.name,
        model_path=str(hearth.get("model_path") or info.model_path),
        model_size=0,
        model_sha256=str(hearth.get("model_sha256") or info.model_sha256),
        quant=str(hearth.get("quant") or ""),
        llama_cpp_version=str(hearth.get("llama_cpp_version") or info.version),
        settings=settings,
        seed=reply.seed,
        timings=reply.timings.to_dict(),
        finish=reply.finish,
        dropped_messages=reply.dropped_messages,
    )
