"""Run a local GGUF model through llama-cpp-python: load, stream a chat reply, stop.

A ``Llama`` object is not thread-safe, so an :class:`Engine` belongs to one thread
(the UI's model worker, or the CLI's main thread); only :class:`CancelToken` is
touched from elsewhere. llama_cpp is imported here lazily, never at module level.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import hardware
from desktop_app.core.cancel import CancelToken, Progress, ProgressCallback
from desktop_app.core.errors import Cancelled, HearthError, ModelLoadError
from desktop_app.core.inference import sampler, templates
from desktop_app.core.inference.stop_text import StopText
from desktop_app.core.inference.templates import ChatTemplate, Renderer
from desktop_app.core.models import gguf_meta
from desktop_app.core.settings import LoadSettings, SamplingSettings

if TYPE_CHECKING:
    from llama_cpp import Llama

    from desktop_app.core.inference.logprobs import ScoredToken

log = logging.getLogger(__name__)

# Patching llama_cpp's default model params (to get a load-progress callback) is process-wide.
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass
class Timings:
    prompt_tokens: int = 0  # tokens in the prompt sent (cached prefix included)
    prompt_eval_tokens: int = 0  # tokens llama.cpp actually evaluated (the rest came from cache)
    prompt_tok_s: float = 0.0
    gen_tokens: int = 0
    gen_tok_s: float = 0.0
    ttft_s: float = 0.0
    total_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reply:
    """The outcome of one generation. ``finish`` is "stop", "length" or "cancelled"."""

    text: str
    finish: str
    seed: int
    timings: Timings
    dropped_messages: int = 0  # oldest turns left out so the prompt fits the context
    context_used: int = 0  # tokens in the context at the end (prompt + reply)

    @property
    def stopped(self) -> bool:
        return self.finish == "cancelled"


@dataclass(frozen=True)
class LoadedModel:
    path: Path
    info: gguf_meta.GGUFInfo
    settings: LoadSettings
    n_ctx: int
    n_threads: int
    n_gpu_layers: int  # layers actually offloaded (0 on a CPU build)
    backend: str
    llama_cpp_version: str
    load_s: float
    template: ChatTemplate = field(default_factory=lambda: templates.continuation("continuation"))
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class PromptPlan:
    tokens: list[int]
    dropped_messages: int
    max_new_tokens: int


def _perf(llm: Llama) -> tuple[float, int]:
    """(prompt eval ms, prompt tokens evaluated) from llama.cpp's own counters."""
    import llama_cpp

    data = llama_cpp.llama_perf_context(llm._ctx.ctx)
    return float(data.t_p_eval_ms), int(data.n_p_eval)


def _compiled_grammar(gbnf: str) -> Any:
    """llama.cpp's parsed form of a GBNF grammar; a grammar it rejects is a plain-words error."""
    from llama_cpp import LlamaGrammar

    from desktop_app.core.inference.gbnf_check import check

    check(gbnf)  # llama.cpp crashes the process on a grammar it cannot parse: refuse it here first
    try:
        return LlamaGrammar.from_string(gbnf, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise HearthError(f"The output format could not be turned into a grammar: {exc}") from None


def _template_notes(template: ChatTemplate) -> list[str]:
    """What the chat says about a template the user did not choose and the file did not carry."""
    if template.source == "continuation":
        return [templates.BASE_MODEL_NOTICE]
    if template.source == "architecture":
        return [
            f"This model file carries no chat template: Hearth prompts it in the {template.label} format, "
            "chosen for its architecture. Pick another in the side panel if replies look wrong."
        ]
    return []


class Engine:
    def __init__(self) -> None:
        self._llm: Llama | None = None
        self.model: LoadedModel | None = None
        self._eog: Callable[[int], bool] | None = None
        self._renderer: Renderer | None = None
        self._add_bos = False
        self._bos_text = ""
        self.baseline_rss = 0  # RSS before the current model was loaded (fit calibration)

    # -- loading -------------------------------------------------------------------------

    def load(
        self,
        path: str | Path,
        settings: LoadSettings | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        template: str = templates.AUTO,
    ) -> LoadedModel:
        """Loads a model, replacing any loaded one. Raises ModelLoadError in plain words,
        Cancelled if ``cancel`` fires (the previous model is then already unloaded).
        ``template`` is the user's choice for this model (see :mod:`templates`)."""
        path = Path(path)
        settings = settings or LoadSettings()
        info = gguf_meta.read_local(path)  # clear errors for empty / non-GGUF / truncated files
        self.unload()
        import llama_cpp  # noqa: F401 - loaded before the baseline, so it is not counted as the model's

        from desktop_app.core.memory import rss_bytes

        self.baseline_rss = rss_bytes()
        notes: list[str] = []
        n_ctx = settings.n_ctx
        if info.context_length and n_ctx > info.context_length:
            notes.append(f"Context reduced to {info.context_length:,}, the most this model was trained for.")
            n_ctx = info.context_length
        n_threads = settings.n_threads or hardware.physical_cores()
        backend, offload, version, _ = hardware.llama_backend()
        n_gpu_layers = 0
        if offload and settings.n_gpu_layers < 0:
            from desktop_app.core.fit import plan as fit_plan

            n_gpu_layers = fit_plan.recommended_gpu_layers(path, n_ctx)
            notes.append(f"GPU layers chosen by the fit check: {n_gpu_layers} of {info.n_layers + 1}.")
        elif offload:
            n_gpu_layers = settings.n_gpu_layers
        started = time.perf_counter()
        llm = self._construct(path, n_ctx, n_threads, n_gpu_layers, settings.flash_attn, progress, cancel)
        self._llm = llm
        chosen = self._setup_chat(llm, info, path.name, template)
        notes.extend(_template_notes(chosen))
        offloaded = 0
        if offload:
            total = info.n_layers + 1  # llama.cpp counts the output layer too
            offloaded = min(n_gpu_layers, total)
        self.model = LoadedModel(
            path=path,
            info=info,
            settings=settings,
            n_ctx=llm.n_ctx(),
            n_threads=n_threads,
            n_gpu_layers=offloaded,
            backend=backend if offloaded else "CPU",
            llama_cpp_version=version,
            load_s=time.perf_counter() - started,
            template=chosen,
            notes=notes,
        )
        return self.model

    def set_template(self, preference: str) -> ChatTemplate:
        """Prompts the loaded model with another template from the next reply on (no reload)."""
        llm = self._require()
        assert self.model is not None
        chosen = self._setup_chat(llm, self.model.info, self.model.path.name, preference)
        stale = _template_notes(self.model.template)
        notes = [n for n in self.model.notes if n not in stale] + _template_notes(chosen)
        self.model = dataclasses.replace(self.model, template=chosen, notes=notes)
        return chosen

    @staticmethod
    def _construct(
        path: Path,
        n_ctx: int,
        n_threads: int,
        n_gpu_layers: int,
        flash_attn: bool,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> Llama:
        import llama_cpp
        import llama_cpp.llama_cpp as capi

        from desktop_app.core.llama_cpu_libs import load_llama_cpu_libs

        load_llama_cpu_libs()

        def on_progress(fraction: float, _data: ctypes.c_void_p) -> bool:
            if progress:
                progress(Progress(fraction, 1.0, "Loading model"))
            return not (cancel and cancel.cancelled)  # False makes llama.cpp abort the load

        callback = capi.llama_progress_callback(on_progress)
        original = capi.llama_model_default_params

        def params_with_progress() -> Any:
            params = original()
            params.progress_callback = callback
            return params

        # llama-cpp-python does not expose llama.cpp's load-progress callback, but builds
        # its params from this function: wrap it for the duration of this load only.
        templates.install_template_limits()  # Llama() compiles the file's own template: bounded (templates.py)
        with _LOAD_LOCK:
            capi.llama_model_default_params = params_with_progress
            try:
                return llama_cpp.Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_gpu_layers=n_gpu_layers,
                    flash_attn=flash_attn,
                    verbose=False,
                )
            except ValueError as exc:
                if cancel and cancel.cancelled:
                    raise Cancelled from None
                raise ModelLoadError(
                    f"llama.cpp could not load “{path.name}”.",
                    "The file may be damaged, or use an architecture this llama.cpp version does not "
                    f"support yet ({exc}).",
                ) from None
            finally:
                capi.llama_model_default_params = original

    def _setup_chat(self, llm: Llama, info: gguf_meta.GGUFInfo, file_name: str, preference: str) -> ChatTemplate:
        import llama_cpp

        vocab = llm._model.vocab
        self._eog = lambda token: bool(llama_cpp.llama_vocab_is_eog(vocab, token))

        def special_text(token: int) -> str:
            if token < 0:
                return ""
            return llm.detokenize([token], special=True).decode("utf-8", errors="replace")

        chosen = templates.choose(info, file_name, preference)
        self._bos_text = special_text(llm.token_bos())
        self._add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
        self._renderer = Renderer(chosen, self._bos_text, special_text(llm.token_eos()))
        return chosen

    def unload(self) -> None:
        if self._llm is not None:
            self._llm.close()
        self._llm = None
        self.model = None
        self._renderer = None

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def _require(self) -> Llama:
        if self._llm is None:
            raise HearthError("No model is loaded.", "Pick a model first.")
        return self._llm

    # -- tokens and prompts ------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return len(self._require().tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def tokenize_text(self, text: str) -> list[int]:
        """Plain text as the model's tokens, no chat template, with the BOS token the model
        expects (the local server's /v1/completions)."""
        return self._require().tokenize(text.encode("utf-8"), add_bos=self._add_bos, special=False)

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text for ``messages`` with the chosen chat template (or as plain text)."""
        self._require()
        assert self._renderer is not None
        try:
            return self._renderer.render([(m.role, m.content) for m in messages])
        except templates.TemplateLimitError:
            raise  # already in plain words, naming the template
        except Exception as exc:  # noqa: BLE001 - templates raise anything; the user needs words
            raise HearthError(f"The model's chat template rejected this conversation: {exc}") from None

    def tokenize_chat(self, messages: Sequence[Message]) -> list[int]:
        text = self.render(messages)
        # A template that writes the BOS token itself gets none added; one that does not (llama-cpp-
        # python's built-in formats, plain continuation) gets it where the model expects one.
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return self._require().tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def keep_prefix(self, prefix: Sequence[int], prompt: Sequence[int]) -> None:
        """Leaves in the KV cache the part of ``prefix`` that ``prompt`` starts with, as computed
        when ``prefix`` was evaluated on its own (evaluating it now unless the cache holds it), so
        the next generation from ``prompt`` evaluates only the rest. Dataset runs call it before
        every row: a row is then computed the same way whatever came before it."""
        llm = self._require()
        prefix = list(prefix)
        if llm.n_tokens < len(prefix) or llm.input_ids[: len(prefix)].tolist() != prefix:
            llm.reset()
            if prefix:
                llm.eval(prefix)
        keep = 0
        for a, b in zip(prompt, prefix, strict=False):
            if a != b:
                break
            keep += 1
        llm.n_tokens = keep
        llm._ctx.kv_cache_seq_rm(-1, keep, -1)

    @property
    def stops(self) -> list[str]:
        """Text that ends a reply under the current template (beside the model's end tokens)."""
        return list(self._renderer.stops) if self._renderer else []

    def plan_prompt(
        self, messages: Sequence[Message], max_tokens: int, cancel: CancelToken | None = None
    ) -> PromptPlan:
        """Fits the conversation into the context, dropping the oldest turns when needed.

        The system prompt and the latest message always stay. At least
        min(max_tokens, n_ctx / 4) tokens are kept free for the answer. Linear in the length of
        the conversation (see :mod:`prompt_fit`); ``cancel`` ends it with :class:`Cancelled`.
        """
        from desktop_app.core.inference.prompt_fit import fit_conversation

        llm = self._require()
        n_ctx = llm.n_ctx()
        reserve = max(16, min(max_tokens, n_ctx // 4))
        tokens, dropped = fit_conversation(messages, n_ctx, reserve, self.tokenize_chat, self.count_tokens, cancel)
        return PromptPlan(tokens, dropped, min(max_tokens, n_ctx - len(tokens)))

    # -- generation -----------------------------------------------------------------------------

    def stream_chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        cancel: CancelToken | None = None,
        grammar: str | None = None,
    ) -> Iterator[str | Reply]:
        """Yields text pieces as they are generated, then one final :class:`Reply`.

        Stopping: set ``cancel``. During the reply it takes effect after the current
        token; during prompt processing llama.cpp's abort callback interrupts it.
        ``grammar`` (GBNF text, see :mod:`desktop_app.core.inference.grammars`) constrains
        decoding: every reply then matches it.
        """
        sampling = sampling or SamplingSettings()
        try:
            plan = self.plan_prompt(messages, sampling.max_tokens, cancel)
        except Cancelled:  # stopped while a long conversation was being fitted: nothing written
            yield Reply(text="", finish="cancelled", seed=sampling.seed, timings=Timings())
            return
        yield from self.stream_tokens(
            plan.tokens, sampling, cancel, plan.max_new_tokens, plan.dropped_messages, grammar=grammar
        )

    def stream_tokens(
        self,
        prompt: list[int],
        sampling: SamplingSettings,
        cancel: CancelToken | None = None,
        max_new_tokens: int | None = None,
        dropped_messages: int = 0,
        grammar: str | None = None,
    ) -> Iterator[str | Reply]:
        llm = self._require()
        assert self._eog is not None
        cancel = cancel or CancelToken()
        compiled = _compiled_grammar(grammar) if grammar else None
        seed, limit, generator = sampler.start(llm, prompt, sampling, max_new_tokens, compiled)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stop_text = StopText(self.stops)
        stopped_by_text = False
        pieces: list[str] = []
        finish = "length"
        n_gen = 0
        t_first = t_last = 0.0
        perf_ms0, perf_n0 = _perf(llm)
        start = time.perf_counter()
        try:
            with self._abortable(llm, cancel):
                # Prompt processing happens inside the first next(); only it needs the abort
                # flag: while generating, the loop below checks the token between tokens.
                first = self._first_token(generator, cancel) if limit > 0 else None
            token = first
            while token is not None:
                now = time.perf_counter()
                if n_gen == 0:
                    t_first = now
                if self._eog(token):
                    finish = "stop"
                    break
                n_gen += 1
                t_last = now
                piece, stopped = stop_text.feed(decoder.decode(llm.detokenize([token], special=False)))
                if piece:
                    pieces.append(piece)
                    yield piece
                if stopped:
                    finish, stopped_by_text = "stop", True
                    break
                if cancel.cancelled:
                    finish = "cancelled"
                    break
                if n_gen >= limit:
                    finish = "length"
                    break
                token = self._next_token(generator)
            else:
                if limit > 0 and cancel.cancelled:
                    finish = "cancelled"
        finally:
            generator.close()
        tail = decoder.decode(b"", final=True)
        tail = ("" if stopped_by_text else stop_text.flush()) + tail
        if tail:
            pieces.append(tail)
            yield tail
        end = time.perf_counter()
        perf_ms1, perf_n1 = _perf(llm)
        evaluated = perf_n1 - perf_n0
        prompt_s = (perf_ms1 - perf_ms0) / 1000
        timings = Timings(
            prompt_tokens=len(prompt),
            prompt_eval_tokens=evaluated,
            prompt_tok_s=evaluated / prompt_s if prompt_s > 0 else 0.0,
            gen_tokens=n_gen,
            gen_tok_s=(n_gen - 1) / (t_last - t_first) if n_gen > 1 and t_last > t_first else 0.0,
            ttft_s=(t_first - start) if t_first else 0.0,
            total_s=end - start,
        )
        yield Reply(
            text="".join(pieces),
            finish=finish,
            seed=seed,
            timings=timings,
            dropped_messages=dropped_messages,
            context_used=len(prompt) + n_gen,
        )

    @staticmethod
    def _first_token(generator: Iterator[int], cancel: CancelToken) -> int | None:
        try:
            return next(generator, None)
        except RuntimeError as exc:
            if cancel.cancelled:  # llama_decode returned 2: aborted by our callback
                return None
            raise HearthError(f"llama.cpp failed while reading the prompt: {exc}") from None

    @staticmethod
    def _next_token(generator: Iterator[int]) -> int | None:
        try:
            return next(generator, None)
        except RuntimeError as exc:
            raise HearthError(f"llama.cpp stopped with an error while generating: {exc}") from None

    @staticmethod
    @contextlib.contextmanager
    def _abortable(llm: Llama, cancel: CancelToken) -> Iterator[None]:
        import llama_cpp

        from desktop_app.core.inference.abort_flag import AbortFlag

        flag = AbortFlag(llama_cpp.ggml_abort_callback)
        cancel.on_cancel(flag.set)
        llama_cpp.llama_set_abort_callback(llm._ctx.ctx, flag.callback, flag.data)
        try:
            yield
        finally:
            llama_cpp.llama_set_abort_callback(llm._ctx.ctx, llama_cpp.ggml_abort_callback(), None)

    def generate(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        cancel: CancelToken | None = None,
        grammar: str | None = None,
    ) -> Reply:
        """The whole reply at once (scripts, tests, dataset runs)."""
        for item in self.stream_chat(messages, sampling, cancel, grammar=grammar):
            if isinstance(item, Reply):
                return item
        raise AssertionError("stream_chat ended without a Reply")

    # -- log-probabilities and tools (the local server; the work is in logprobs.py, tool_prompt.py) --

    def score_prompt(
        self, tokens: Sequence[int], top_n: int = 0, cancel: CancelToken | None = None
    ) -> list[ScoredToken]:
        """Each token of ``tokens`` with its log-probability given the ones before it."""
        from desktop_app.core.inference import logprobs

        return logprobs.score_prompt(self._require(), tokens, top_n, cancel or CancelToken())

    def stream_scored(
        self,
        prompt: Sequence[int],
        sampling: SamplingSettings,
        cancel: CancelToken | None = None,
        max_new_tokens: int | None = None,
        top_n: int = 0,
        grammar: str | None = None,
    ) -> Iterator[ScoredToken | Reply]:
        """As :meth:`stream_tokens`, yielding each token with its log-probability (and the
        ``top_n`` most likely), then the :class:`Reply`."""
        from desktop_app.core.inference import logprobs

        llm = self._require()
        assert self._eog is not None
        compiled = _compiled_grammar(grammar) if grammar else None
        for item in logprobs.stream_scored(
            llm, self._eog, self.stops, prompt, sampling, cancel or CancelToken(), max_new_tokens, top_n, compiled
        ):
            if isinstance(item, logprobs.ScoredEnd):
                timings = Timings(prompt_tokens=item.prompt_tokens, gen_tokens=item.gen_tokens, ttft_s=item.ttft_s,
                                  total_s=item.total_s)  # fmt: skip
                used = item.prompt_tokens + item.gen_tokens
                yield Reply(item.text, item.finish, item.seed, timings, context_used=used)
            else:
                yield item

    def check_prompt_tokens(self, tokens: Sequence[int]) -> None:
        """A plain-words HearthError for token ids a client sent that this model cannot read."""
        from desktop_app.core.inference import logprobs

        logprobs.check_tokens(self._require(), [int(t) for t in tokens])

    def detokenize_text(self, tokens: Sequence[int]) -> str:
        """The text of token ids (special tokens left out), as /v1/completions echoes a token prompt."""
        return self._require().detokenize(list(tokens), special=False).decode("utf-8", errors="replace")

    def tool_format(self) -> str:
        """How the loaded model's own template writes tool calls ("hermes", "json"), or "" when
        it knows no tools (calls are then described in the system prompt, see tool_prompt.py)."""
        from desktop_app.core.inference import tool_prompt

        return tool_prompt.native_format(self.model.template) if self.model is not None else ""

    def tokenize_with_tools(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
        """The prompt for structured messages (tool calls, tool results) and ``tools``, written by
        the model's own template (only when :meth:`tool_format` is not "")."""
        from desktop_app.core.inference import tool_prompt

        llm = self._require()
        assert self.model is not None
        eos = llm.token_eos()
        eos_text = llm.detokenize([eos], special=True).decode("utf-8", errors="replace") if eos >= 0 else ""
        text = tool_prompt.render(self.model.template, self._bos_text, eos_text, messages, tools)
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        return llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
