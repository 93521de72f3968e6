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

A template from a GGUF file is a program from outside: Jinja's sandbox keeps it from the file
system, but not from ``'x' * 10**10`` or loops nested without end. Rendering is bounded
(:func:`install_template_limits`): every string, list or number a template builds and the
prompt it writes stay under RENDER_CHARS, and rendering stops after RENDER_SECONDS, with a
plain error naming the template. The limits hold for every Jinja2ChatFormatter in the process
(llama-cpp-python builds its own at load, the tool-calling prompt another), in any thread.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from desktop_app.core.errors import HearthError

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
            install_template_limits()
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
        try:
            result = formatter(messages=payload)
        except TemplateLimitError as exc:
            raise TemplateLimitError(exc.message.replace(_THE_TEMPLATE, self._named(), 1), exc.hint) from None
        stop = result.stop
        self.stops = [s for s in ([stop] if isinstance(stop, str) else list(stop or [])) if s]
        return str(result.prompt)

    def _named(self) -> str:
        return f"The chat template in the model file (sha256 {self.template.sha256[:12]}…)"


# -- bounded rendering of templates from model files -----------------------------------------------

RENDER_SECONDS = 3.0  # a real template writes even a 100,000-token prompt in milliseconds
RENDER_CHARS = 20_000_000  # any one value a template builds, and the prompt it writes
_THE_TEMPLATE = "The model's chat template"
_LIMIT_HINT = "Choose another chat template for this model (the chat's side panel), or use another model file."
_state = threading.local()  # the deadline of the render running in this thread


class TemplateLimitError(HearthError):
    """A chat template took too long or built too much; the message names the template."""


def _too_big(what: str) -> TemplateLimitError:
    return TemplateLimitError(
        f"{_THE_TEMPLATE} tried to build {what} larger than {RENDER_CHARS:,} characters; it was stopped.", _LIMIT_HINT
    )


def _check_time() -> None:
    deadline = getattr(_state, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise TemplateLimitError(
            f"{_THE_TEMPLATE} ran for more than {RENDER_SECONDS:g} s without finishing the prompt "
            "(it may loop without end); it was stopped.",
            _LIMIT_HINT,
        )


def _size(value: Any) -> int:
    """About how many characters ``value`` takes once written (a container's items count 16)."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple | dict | set):
        return 16 * len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() // 3  # about its number of decimal digits
    return 0


def _sized(value: Any) -> Any:
    if _size(value) > RENDER_CHARS:
        raise _too_big("a value")
    return value


def _check_operands(operator: str, left: Any, right: Any) -> None:
    """Refuses an operation whose result would be too large before it is computed."""
    if operator == "%" and isinstance(left, str):
        _bound_format(left)
        _bound_argument(right)
    if operator == "*":
        for seq, count in ((left, right), (right, left)):
            countable = isinstance(count, int) and not isinstance(seq, int)
            if countable and _size(seq) * max(count, 0) > RENDER_CHARS:
                raise _too_big("a text or list")
        if isinstance(left, int) and isinstance(right, int) and (_size(left) + _size(right)) > RENDER_CHARS:
            raise _too_big("a number")
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
        if right > 0 and abs(left).bit_length() * right > RENDER_CHARS:
            raise _too_big("a number")
    elif operator == "+" and _size(left) + _size(right) > RENDER_CHARS:
        raise _too_big("a text or list")


def _bound_argument(value: Any, nested: bool = False) -> None:
    """A width or count passed to a string method or filter (``center(10**9)``), or a list whose
    items together are too large (joined, say)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > RENDER_CHARS:
        raise _too_big("a text")
    if isinstance(value, list | tuple) and not nested:
        total = 0
        for item in value:
            _bound_argument(item, nested=True)
            total += _size(item)
            if total > RENDER_CHARS:
                raise _too_big("a text or list")


_FORMAT_WIDTH = re.compile(r"[%{][^%{}a-zA-Z]*?(\d{7,})")


def _bound_format(text: str) -> None:
    """A format string (``'%999999999s'``, ``'{:>999999999}'``) asking for a huge width."""
    if any(int(width) > RENDER_CHARS for width in _FORMAT_WIDTH.findall(text)):
        raise _too_big("a text")


def _bound_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        if len(text) + hits * max(len(new) - len(old), 0) > RENDER_CHARS:
            raise _too_big("a text")


def _bound_call(name: str, owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Checks what a filter or a string method would build, before it runs."""
    for value in (*args, *kwargs.values()):
        _bound_argument(value)
    texts = [a for a in (owner, *args) if isinstance(a, str)]
    if name in ("format", "format_map") and texts:
        _bound_format(texts[0])
    elif name == "replace" and len(texts) >= 3:
        _bound_replace(*texts[:3])
    elif name == "join":  # str.join(items), or the filter: items|join(separator)
        items = next((a for a in args if isinstance(a, list | tuple)), ())
        separator = owner if isinstance(owner, str) else (texts[0] if texts else "")
        if len(separator) * len(items) > RENDER_CHARS:
            raise _too_big("a text")


def _limited_filter(function: Any) -> Any:
    @functools.wraps(function)  # keeps Jinja's pass_context marks
    def limited(*args: Any, **kwargs: Any) -> Any:
        _check_time()
        _bound_call(getattr(function, "__name__", "").removeprefix("do_"), None, args, kwargs)
        return _sized(function(*args, **kwargs))

    return limited


def _concat(parts: tuple[Any, ...]) -> str:
    """``a ~ b ~ c``: each part written, the whole sized before it is joined."""
    _check_time()
    texts = []
    total = 0
    for part in parts:
        if _size(part) > RENDER_CHARS:
            raise _too_big("a text")
        text = str(part)
        total += len(text)
        if total > RENDER_CHARS:
            raise _too_big("a text")
        texts.append(text)
    return "".join(texts)


def _trace(frame: Any, _event: str, _arg: Any) -> Any:
    """sys.settrace's hook while a template renders: checks the clock on every line of the
    template's own compiled code, so loops that call nothing still stop."""
    if frame.f_code.co_filename != "<template>":
        return None
    return _trace_lines


def _trace_lines(_frame: Any, event: str, _arg: Any) -> Any:
    if event == "line":
        _check_time()
    return _trace_lines


@functools.cache
def _limited_classes() -> tuple[type, type]:
    """(environment, template) classes: a sandbox whose operations, attribute reads, calls and
    filters are bounded, and whose templates render under the clock and the size limit."""
    from jinja2 import Template
    from jinja2.compiler import CodeGenerator
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class LimitedCodeGenerator(CodeGenerator):
        """Compiles ``~`` to a sized join (Jinja's own join is one unchecked C call)."""

        def visit_Concat(self, node: Any, frame: Any) -> None:  # noqa: N802 - Jinja's name
            if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:  # pragma: no cover - never on
                super().visit_Concat(node, frame)
                return
            self.write("environment.limited_concat((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class LimitedTemplate(Template):
        def render(self, *args: Any, **kwargs: Any) -> str:
            if getattr(_state, "deadline", None) is not None:  # nested: the outer render's clock
                return _collect(self.generate(*args, **kwargs))
            _state.deadline = time.monotonic() + RENDER_SECONDS
            previous = sys.gettrace()
            sys.settrace(_trace)
            try:
                return _collect(self.generate(*args, **kwargs))
            finally:
                sys.settrace(previous)
                _state.deadline = None

    class LimitedEnvironment(ImmutableSandboxedEnvironment):
        # Intercepted operators are also never folded at compile time ('x' * 10**10 at load).
        intercepted_binops = frozenset({"*", "**", "+", "//", "%"})
        template_class = LimitedTemplate
        code_generator_class = LimitedCodeGenerator
        limited_concat = staticmethod(_concat)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.filters = {name: _limited_filter(f) for name, f in self.filters.items()}

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            _check_time()
            _check_operands(operator, left, right)
            return _sized(super().call_binop(context, operator, left, right))

        def getattr(self, obj: Any, attribute: str) -> Any:
            _check_time()
            return _sized(super().getattr(obj, attribute))

        def getitem(self, obj: Any, argument: Any) -> Any:
            _check_time()
            return _sized(super().getitem(obj, argument))

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            _check_time()
            method = getattr(obj, "__wrapped__", obj)  # Jinja wraps str.format to sandbox it
            _bound_call(getattr(method, "__name__", ""), getattr(method, "__self__", None), args, kwargs)
            return _sized(super().call(context, obj, *args, **kwargs))

    return LimitedEnvironment, LimitedTemplate


def _collect(pieces: Any) -> str:
    out: list[str] = []
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > RENDER_CHARS:
            raise _too_big("a prompt")
        out.append(piece)
    return "".join(out)


def limited_environment(**options: Any) -> Any:
    """A Jinja sandbox whose templates render within RENDER_SECONDS and RENDER_CHARS."""
    environment, _template = _limited_classes()
    return environment(**options)


@functools.cache
def install_template_limits() -> None:
    """Makes llama-cpp-python's Jinja2ChatFormatter (whoever builds one: Llama() at load, the
    renderer, the tool prompt) compile and render templates in the limited sandbox. Idempotent."""
    from llama_cpp import llama_chat_format

    original = llama_chat_format.Jinja2ChatFormatter

    class LimitedJinja2ChatFormatter(original):  # type: ignore[misc, valid-type]
        def __init__(
            self, template: str, eos_token: str, bos_token: str, add_generation_prompt: bool = True,
            stop_token_ids: list[int] | None = None,
        ) -> None:  # fmt: skip
            # The original's __init__, in the limited sandbox (it must not compile, and so fold
            # constants, in the unlimited one first).
            import jinja2
            import jinja2.ext

            self.template = template
            self.eos_token = eos_token
            self.bos_token = bos_token
            self.add_generation_prompt = add_generation_prompt
            self.stop_token_ids = set(stop_token_ids) if stop_token_ids is not None else None
            environment = limited_environment(
                loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
                extensions=[original.IgnoreGenerationTags, jinja2.ext.loopcontrols],
            )  # fmt: skip
            environment.filters["tojson"] = _limited_filter(self.tojson)
            self._environment = environment.from_string(self.template)

    llama_chat_format.Jinja2ChatFormatter = LimitedJinja2ChatFormatter  # type: ignore[misc]
