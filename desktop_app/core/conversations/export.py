"""A conversation exported with everything needed to reproduce and cite it.

Two forms: a readable Markdown document (each answer followed by the model file and
its sha256, the llama.cpp version, the seed, the sampling and load settings, the
speed, and for answers from documents their numbered sources), and a JSON document
with every stored field (``format`` / ``version`` keys, then the conversation and
each message with its full provenance and citations record).

:func:`write_export` writes either atomically: a failed write (full disk, a folder
that cannot be written) raises :class:`HearthError` and leaves any earlier file at
that path as it was.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from desktop_app.core.atomic_files import write_text_atomically
from desktop_app.core.conversations.store import Conversation, ConversationStore, Provenance, StoredMessage
from desktop_app.core.errors import HearthError
from desktop_app.core.rag.answer_record import Citation, RagAnswer
from desktop_app.core.units import human_bytes

FORMAT = "hearth-conversation"
VERSION = 1
FORMATS = ("md", "json")
SUFFIXES = {".md": "md", ".markdown": "md", ".json": "json"}
SHORT_SHA = 12
ROLE_WORDS = {"user": "User", "assistant": "Assistant", "system": "System"}
# Characters no file name may hold on Windows, macOS or Linux, and names Windows reserves.
_UNSAFE_NAME = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
_RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
_NAME_LENGTH = 80


def hearth_version() -> str:
    try:
        return importlib.metadata.version("hearth")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def iso_time(timestamp: float) -> str:
    """Local time with its offset: 2025-05-01T14:03:12+0200."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(timestamp))


def _readable_time(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


# -- file names and formats ---------------------------------------------------------------------


def export_file_name(title: str, fmt: str = "md") -> str:
    """A safe file name from a conversation's title ("Plasma: 4,500 rpm?" -> "Plasma 4,500 rpm.md")."""
    name = _UNSAFE_NAME.sub(" ", title)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if len(name) > _NAME_LENGTH:
        name = name[:_NAME_LENGTH].rstrip(" .")
    if not name:
        name = "conversation"
    if name.split(".")[0].upper() in _RESERVED_NAMES:
        name = f"{name} (chat)"
    return f"{name}.{fmt}"


def format_for(path: str | Path, default: str = "md") -> str:
    """The export format a file name asks for: .json -> "json", .md/.markdown -> "md"."""
    return SUFFIXES.get(Path(path).suffix.lower(), default)


# -- JSON -----------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null, tuples lists, anything else unknown its text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_safe(v) for v in value]
    return str(value)


def _message_dict(message: StoredMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "position": message.position,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at,
        "created": iso_time(message.created_at),
        "stopped": message.stopped,
        "cut_short": message.cut_short,
        "provenance": dataclasses.asdict(message.provenance) if message.provenance is not None else None,
        "rag": message.rag.to_dict() if message.rag is not None else None,
    }


def conversation_json(store: ConversationStore, conversation_id: int) -> dict[str, Any]:
    """The conversation and every message with its full provenance and citations record."""
    conversation = store.get(conversation_id)
    now = time.time()
    data = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now,
        "exported": iso_time(now),
        "hearth_version": hearth_version(),
        "conversation": {
            "id": conversation.id,
            "title": conversation.title,
            "system_prompt": conversation.system_prompt,
            "created_at": conversation.created_at,
            "created": iso_time(conversation.created_at),
            "updated_at": conversation.updated_at,
            "updated": iso_time(conversation.updated_at),
            "documents_only": conversation.documents_only,
            "collections": store.collections(conversation_id),
        },
        "messages": [_message_dict(m) for m in store.messages(conversation_id)],
    }
    safe = _json_safe(data)
    assert isinstance(safe, dict)
    return safe


# -- Markdown -------------------------------------------------------------------------------------


def _code(text: object) -> str:
    """Inline code that survives backticks in the text."""
    text = str(text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _quote(text: str) -> str:
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.strip().splitlines())


def _number(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"


def _provenance_lines(p: Provenance, conversation_prompt: str) -> list[str]:
    used = p.settings_record
    load, sampling = used.load, used.sampling
    timings = p.timings_record
    file_name = Path(p.model_path).name if p.model_path else p.model_name
    lines = ["**Reply details**", ""]
    model = f"- Model file: {_code(file_name)}"
    extras = [x for x in (p.quant, human_bytes(p.model_size) if p.model_size else "") if x]
    if extras:
        model += f" ({', '.join(extras)})"
    lines.append(model)
    if p.model_sha256:
        lines.append(f"- sha256: {_code(p.model_sha256[:SHORT_SHA])} (full: {_code(p.model_sha256)})")
    else:
        lines.append("- sha256: not computed")
    engine = f"- llama.cpp (llama-cpp-python) {p.llama_cpp_version or 'unknown'}"
    if load.get("backend"):
        engine += f", backend {load['backend']}"
    lines.append(engine)
    lines.append(f"- Chat template: {p.template_description}")
    names = (
        ("temperature", "temperature"),
        ("top_p", "top-p"),
        ("top_k", "top-k"),
        ("min_p", "min-p"),
        ("repeat_penalty", "repeat penalty"),
        ("max_tokens", "max tokens"),
    )
    parts = [f"seed {p.seed}"] + [f"{label} {_number(sampling[key], 3)}" for key, label in names if key in sampling]
    lines.append("- Sampling: " + ", ".join(parts))
    loading = []
    if "n_ctx" in load:
        loading.append(f"context length {load['n_ctx']}")
    if "n_gpu_layers" in load:
        loading.append(f"GPU layers {load['n_gpu_layers']}")
    if "n_threads" in load:
        loading.append(f"threads {load['n_threads']}")
    if "flash_attn" in load:
        loading.append(f"flash attention {'on' if load['flash_attn'] else 'off'}")
    if loading:
        lines.append("- Loading: " + ", ".join(loading))
    if p.timings:  # none recorded: no line
        speed = (
            f"- Speed: prompt {timings.prompt_tokens} tokens at {_number(timings.prompt_tok_s, 1)}"
            f" tok/s, {timings.gen_tokens} generated at {_number(timings.gen_tok_s, 1)} tok/s,"
            f" first token after {_number(timings.ttft_s, 2)} s"
        )
        lines.append(speed)
    if p.finish == "cancelled":
        lines.append("- **Stopped** by the user before the end: the reply is incomplete.")
    elif p.finish == "crashed":
        lines.append("- **Cut short**: the model's engine stopped (crashed) before the end: the reply is incomplete.")
    elif p.finish == "length":
        lines.append(f"- **Cut off** at the token limit ({sampling.get('max_tokens', '?')} tokens).")
    if p.dropped_messages:
        word = "message" if p.dropped_messages == 1 else "messages"
        lines.append(
            f"- **Context truncated**, {p.dropped_messages} earlier {word} dropped to fit the model's context."
        )
    system = used.system_prompt
    if system.strip() != conversation_prompt.strip():
        fence = "```"
        while fence in system:
            fence += "`"
        lines += ["", "<details><summary>System prompt for this reply</summary>", "", f"{fence}text", system, fence,
                  "", "</details>"]  # fmt: skip
    return lines


def _location(citation: Citation) -> str:
    name = _code(citation.file_name or "?")
    return f"{name}, {citation.page_words}" if citation.page_words else name


def _sources_lines(rag: RagAnswer) -> list[str]:
    lines: list[str] = []
    collections = rag.inspector.collections
    if rag.citations:
        lines += ["**Sources**" + (f" (from {', '.join(collections)})" if collections else ""), ""]
        for c in sorted(rag.citations, key=lambda c: c.number):
            status = "cited" if c.cited else "retrieved, not cited"
            head = f"- [{c.number}] {_location(c)}"
            if c.heading:
                head += f" — {c.heading}"
            lines.append(f"{head} — *{status}*")
            text = c.snippet.strip()
            if text:
                lines.append("  " + _quote(text).replace("\n", "\n  "))
    elif rag.inspector.nothing_relevant:
        lines.append("*No passage in the documents was relevant: the model was not asked.*")
    if rag.warnings:
        lines += ["", "**Checks**", ""] + [f"- {w}" for w in rag.warnings]
    return lines


def conversation_markdown(store: ConversationStore, conversation_id: int) -> str:
    """A readable document: the conversation, and under each answer what produced it."""
    conversation = store.get(conversation_id)
    messages = store.messages(conversation_id)
    lines = [f"# {conversation.title}", ""]
    lines.append(f"Exported from Hearth {hearth_version()} on {_readable_time(time.time())}.")
    lines.append(
        f"Conversation started {_readable_time(conversation.created_at)}, last changed "
        f"{_readable_time(conversation.updated_at)}; {len(messages)} message{'s' if len(messages) != 1 else ''}."
    )
    collections = store.collections(conversation_id)
    if collections:
        lines.append(f"Answers from the document collections: {', '.join(collections)}.")
    lines += ["", "## System prompt", ""]
    lines.append(_quote(conversation.system_prompt) if conversation.system_prompt.strip() else "*None.*")
    lines += ["", "## Conversation"]
    for message in messages:
        lines += _message_lines(conversation, message)
    return "\n".join(lines).rstrip() + "\n"


def _message_lines(conversation: Conversation, message: StoredMessage) -> list[str]:
    role = ROLE_WORDS.get(message.role, message.role.capitalize())
    lines = ["", f"### {role} · {_readable_time(message.created_at)}", ""]
    lines.append(message.content.strip() or "*(no text)*")
    if message.role != "assistant":
        return lines
    if message.provenance is not None:
        lines += ["", *_provenance_lines(message.provenance, conversation.system_prompt)]
    rag = message.rag
    if rag is not None:
        lines += ["", *_sources_lines(rag)]
    elif message.provenance is None:
        lines += ["", "*No details were recorded for this reply.*"]
    return lines


# -- listing and writing --------------------------------------------------------------------------


def render(store: ConversationStore, conversation_id: int, fmt: str) -> str:
    """The export as text: ``fmt`` is "md" or "json"."""
    if fmt == "md":
        return conversation_markdown(store, conversation_id)
    if fmt == "json":
        return (
            json.dumps(conversation_json(store, conversation_id), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        )
    raise HearthError(f"Hearth cannot export to “{fmt}”.", "Choose Markdown (.md) or JSON (.json).")


def write_export(store: ConversationStore, conversation_id: int, path: str | Path, fmt: str | None = None) -> Path:
    """Writes the export to ``path`` (``fmt`` "md" or "json"; None: from the file's suffix)."""
    path = Path(path).expanduser()
    write_text_atomically(path, render(store, conversation_id, fmt or format_for(path)))
    return path
