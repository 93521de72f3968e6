"""Which chat template a model is prompted with, and why.

A GGUF normally carries its own template (``tokenizer.chat_template``). Many on the Hub carry
none, or are *base* models that were never taught a chat format at all. Prompting those in a
foreign format (ChatML for Gemma, say) makes them loop on the format's tokens, so:

- a file's own template is used when it has one;
- a file without one gets llama-cpp-python's format for its architecture and tokenizer, and the
  chat says so;
- a base model (no template, and nothing in its name, fine-tune or tags says instruct/chat/it)
  is prompted as plain text to continue, and the chat says that plainly;
- the user can override the choice per model (Settings keeps it by file path).

What was used is recorded with every answer: the format's name, where it came from and the
sha256 of its text (for llama-cpp-python's built-in formats, of the formatter's source).
"""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop_app.core.models.gguf_meta import GGUFInfo

AUTO = "auto"
CONTINUATION = "none"

# Choices offered to the user: name -> label. The names are llama-cpp-python's chat formats.
CHOICES: dict[str, str] = {
    AUTO: "Automatic (the model's own, else one for its architecture)",
    "chatml": "ChatML (Qwen, SmolLM, many fine-tunes)",
    "gemma": "Gemma",
    "llama-3": "Llama 3",
    "llama-2": "Llama 2",
    "mistral-instruct": "Mistral Instruct",
    "zephyr": "Zephyr",
    "alpaca": "Alpaca",
    CONTINUATION: "None: continue the text (base models)",
}
_FORMATTERS = {
    "chatml": "format_chatml",
    "gemma": "format_gemma",
    "llama-3": "format_llama3",
    "llama-2": "format_llama2",
    "mistral-instruct": "format_mistral_instruct",
    "zephyr": "format_zephyr",
    "alpaca": "format_alpaca",
}
# An architecture without a template of its own: the format its instruction-tuned releases use.
_BY_ARCHITECTURE = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "gemma3n": "gemma",
    "mistral": "mistral-instruct",
    "qwen": "chatml",
    "qwen2": "chatml",
    "qwen3": "chatml",
    "qwen2moe": "chatml",
    "qwen3moe": "chatml",
}
# Words in a model's name, fine-tune or tags that mean it was tuned to follow instructions.
_TUNED = re.compile(r"(?<![a-z])(instruct|chat|it|sft|dpo|rlhf|orpo|assistant|conversational)(?![a-z])")

BASE_MODEL_NOTICE = (
    "This looks like a base model: it continues text rather than following instructions, so it "
    "is prompted as plain text to continue. Pick a chat template in the side panel if it is "
    "really an instruction-tuned model."
)


@dataclass(frozen=True)
class ChatTemplate:
    """The template a model is prompted with: recorded with every answer."""

    name: str  # a key of CHOICES (never AUTO), or "file" for the model's own template
    source: str  # "file" | "architecture" | "user" | "continuation"
    sha256: str  # of the template's text ("" for continuation)
    text: str = ""  # the Jinja text for "file"; not recorded (the sha256 identifies it)

    @property
    def continuation(self) -> bool:
        return self.name == CONTINUATION

    @property
    def label(self) -> str:
        if self.name == "file":
            return "the model's own template"
        return CHOICES.get(self.name, self.name)

    def describe(self) -> str:
        """One line for Details and exports."""
        if self.continuation:
            return "none: text continuation"
        where = {
            "file": "from the model file",
            "architecture": "chosen for the model's architecture (the file has none)",
            "user": "chosen by you",
        }.get(self.source, self.source)
        return f"{self.label}, {where}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["text"]
        data["description"] = self.describe()
        return data


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def looks_tuned(info: GGUFInfo, file_name: str) -> bool:
    """Whether anything about the model says it was tuned to chat or follow instructions."""
    md = info.metadata
    words = [file_name, *(str(md.get(k, "")) for k in ("general.name", "general.finetune", "general.basename"))]
    tags = md.get("general.tags")
    if isinstance(tags, list):
        words.extend(str(t) for t in tags)
    return any(_TUNED.search(w.lower().replace("_", "-")) for w in words if w)


def is_base_model(info: GGUFInfo, file_name: str) -> bool:
    return not info.chat_template and not looks_tuned(info, file_name)


def for_architecture(info: GGUFInfo) -> str:
    arch = info.architecture.lower()
    if arch == "llama":
        # Llama 3's tokenizer is a 128k BPE vocabulary; Llama 2's a 32k SentencePiece one.
        pre = str(info.metadata.get("tokenizer.ggml.pre", ""))
        vocab = int(info.arch_get("vocab_size", 0) or 0)
        return "llama-3" if pre == "llama-bpe" or vocab > 100_000 else "llama-2"
    return _BY_ARCHITECTURE.get(arch, "chatml")


def choose(info: GGUFInfo, file_name: str, preference: str = AUTO) -> ChatTemplate:
    """The template for a model, given the user's preference for it (AUTO unless they chose)."""
    if preference not in (AUTO, "") and preference in CHOICES:
        return named(preference, "user") if preference != CONTINUATION else continuation("user")
    if info.chat_template:
        return ChatTemplate("file", "file", _sha256(info.chat_template), info.chat_template)
    if is_base_model(info, file_name):
        return continuation("continuation")
    return named(for_architecture(info), "architecture")


def continuation(source: str) -> ChatTemplate:
    return ChatTemplate(CONTINUATION, source, "")


def named(name: str, source: str) -> ChatTemplate:
    return ChatTemplate(name, source, _sha256(inspect.getsource(_formatter_function(name))))


def _formatter_function(name: str) -> Any:
    from llama_cpp import llama_chat_format

    return getattr(llama_chat_format, _FORMATTERS[name])


class Renderer:
    """Turns messages into prompt text with a chosen template; ``stops`` end a reply."""

    def __init__(self, template: ChatTemplate, bos_text: str, eos_text: str) -> None:
        self.template = template
        self.stops: list[str] = []
        self._jinja: Any = None
        self._function: Any = None
        if template.name == "file":
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._jinja = Jinja2ChatFormatter(
                template=template.text, eos_token=eos_text, bos_token=bos_text, add_generation_prompt=True
            )
        elif not template.continuation:
            self._function = _formatter_function(template.name)

    def render(self, messages: Sequence[tuple[str, str]]) -> str:
        if self.template.continuation:
            # The conversation so far as one text, which the model continues.
            return "\n\n".join(content for _role, content in messages if content)
        payload = [{"role": role, "content": content} for role, content in messages]
        formatter = self._jinja or self._function
        result = formatter(messages=payload)
        stop = result.stop
        self.stops = [s for s in ([stop] if isinstance(stop, str) else list(stop or [])) if s]
        return str(result.prompt)
