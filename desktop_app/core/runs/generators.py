"""What a run generates through: a small protocol, and its implementation on the local engine.

The runner never touches an engine directly. It hands a :class:`RowGenerator` the messages of one
row, the sampling settings (with the row's own seed), a :class:`~desktop_app.core.cancel.CancelToken`
and, for constrained outputs, a :class:`Constraint`; it gets a :class:`Generation` back.

Writing another backend (a remote OpenAI-compatible server, say):

- ``concurrency``: how many rows the runner may have in flight at once. ``generate`` is then
  called from that many threads together; the local engine allows 1.
- ``describe()``: the model part of the run's manifest, a :class:`~desktop_app.core.runs.manifest.ModelRecord`
  (what produced the outputs: a file and its sha256 here; an endpoint, the server's model id and
  what it says about itself there). Give ``kind`` and ``name``; fill in what you know, and leave
  what you do not as None (``sha256=None``).
- ``share_prefix(a, b)``: the messages of two made-up rows; what they have in common is what
  every row starts with. A backend that can keep it cached (llama.cpp's KV cache) does; others
  ignore it.
- ``generate(...)``: raise :class:`RowError` for a problem with this row only (it is recorded
  with its reason and the run goes on: the prompt does not fit, the server rejects this input);
  raise any other :class:`~desktop_app.core.errors.HearthError` when the backend itself cannot
  go on (the server went away): the run stops, is marked paused with that message, and resumes
  later without losing or repeating a row. Return ``finish="cancelled"`` (or raise
  :class:`~desktop_app.core.errors.Cancelled`) when the token fires; that row is not stored.
  Honour the constraint: ``Constraint.gbnf`` for llama.cpp grammars, or ``kind``/``labels``/
  ``schema`` for a server's ``response_format``.
- Optionally ``answer_from_documents(...)`` (see :class:`DocumentGenerator`) for runs attached to
  a document collection.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from desktop_app.core import records
from desktop_app.core.cancel import CancelToken
from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Engine, Message, Reply
from desktop_app.core.inference.engine_crash import EngineCrashError
from desktop_app.core.runs.manifest import LoadRecord, ModelRecord, TemplateRecord
from desktop_app.core.settings import SamplingSettings

if TYPE_CHECKING:
    from desktop_app.core.rag.store import DocumentStore

OUTPUT_KINDS = ("text", "labels", "json", "number")
# A row needs at least this many tokens of context free for its answer (fewer: it fails).
MIN_ANSWER_ROOM = 8


class RowError(HearthError):
    """This row cannot be run (its prompt does not fit, a field is missing); the run goes on."""

    def __init__(self, message: str, hint: str = "", prompt_text: str = "") -> None:
        super().__init__(message, hint)
        self.prompt_text = prompt_text


@dataclass(frozen=True)
class Constraint:
    """What an output must be: one of ``labels``, JSON matching ``schema``, or a number."""

    kind: str  # "labels" | "json" | "number"
    labels: tuple[str, ...] = ()
    schema: dict[str, Any] | None = field(default=None, hash=False)
    grammar: str | None = None  # a llama.cpp grammar stricter than the kind's own (a judge's rubric)

    @functools.cached_property
    def gbnf(self) -> str:
        """The llama.cpp grammar (built once: a schema's takes milliseconds to convert)."""
        from desktop_app.core.inference import grammars

        if self.grammar:
            return self.grammar
        if self.kind == "labels":
            return grammars.labels(self.labels)
        if self.kind == "json":
            return grammars.json_schema(self.schema or {})
        if self.kind == "number":
            return grammars.NUMBER
        raise ValueError(f"no grammar for output kind {self.kind!r}")


@dataclass
class Generation:
    text: str
    finish: str  # "stop" | "length" | "cancelled"
    seed: int  # the seed actually used
    prompt_text: str = ""  # the prompt as the model saw it
    prompt_tokens: int = 0
    gen_tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # per-row provenance the backend wants kept

    @classmethod
    def of(cls, reply: Reply, prompt_text: str, extra: dict[str, Any]) -> Generation:
        """A reply of the engine or of a server (a RemoteReply), with what the backend keeps."""
        t = reply.timings
        return cls(reply.text, reply.finish, reply.seed, prompt_text, t.prompt_tokens, t.gen_tokens, t.total_s, extra)


@dataclass(frozen=True)
class RetrievedPassage:
    """One of the top k passages a question retrieved (kept in the row's detail as a dict)."""

    rank: int
    source: str  # the file's path or address
    name: str  # its name
    page: int | None
    score: float
    sent: bool  # given to the model


@dataclass
class DocumentAnswer:
    """An answer from documents, reduced to what a run stores and scores."""

    generation: Generation
    retrieved: list[RetrievedPassage]  # the top k passages
    cited: list[int]  # source numbers the answer cites
    flagged: bool  # the citation check: a bad number or citation, or a claim no source supports
    no_answer: bool  # the answer says the documents do not hold it
    warnings: list[str] = field(default_factory=list)


class RowGenerator(Protocol):
    concurrency: int

    def describe(self) -> ModelRecord: ...

    def share_prefix(self, a: Sequence[Message], b: Sequence[Message]) -> None: ...

    def generate(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        cancel: CancelToken,
        constraint: Constraint | None = None,
    ) -> Generation: ...


@runtime_checkable
class DocumentGenerator(Protocol):
    """A backend that can also answer a question from a document collection, through the same
    retrieval and citation path as the chat (core/rag/answer.py)."""

    def answer_from_documents(
        self,
        store: DocumentStore,
        collections: Sequence[str],
        question: str,
        system_prompt: str,
        sampling: SamplingSettings,
        cancel: CancelToken,
        k: int | None = None,
    ) -> DocumentAnswer: ...


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LocalGenerator:
    """The loaded :class:`Engine`: one row at a time, the shared prefix kept in llama.cpp's cache.

    Before every row the KV cache is brought to exactly the shared prefix (evaluated on its own,
    the first time and whenever a row overwrote it). Each row is then computed the same way
    whatever row came before it, so a resumed or replayed run gives the same outputs as one run
    straight through, and the shared instructions are read once, not once per row.
    """

    concurrency = 1

    def __init__(self, engine: Engine, sha256: str, reuse_prefix: bool = True) -> None:
        if engine.model is None:
            raise HearthError("No model is loaded.", "Pick a model first.")
        self.engine = engine
        self.sha256 = sha256
        self.reuse_prefix = reuse_prefix
        self._prefix: list[int] = []
        self._document_prefixes: dict[str, list[int]] = {}

    def describe(self) -> ModelRecord:
        model = self.engine.model
        assert model is not None
        template = getattr(model, "template", None)
        to_dict = getattr(template, "to_dict", None)
        return ModelRecord(
            kind="local",
            name=model.name,
            path=str(model.path),
            size_bytes=model.path.stat().st_size if model.path.exists() else None,
            sha256=self.sha256,
            quant=model.info.quant,
            architecture=model.info.architecture,
            llama_cpp_version=model.llama_cpp_version,
            backend=model.backend,
            load=LoadRecord(model.n_ctx, model.n_threads, model.n_gpu_layers, model.settings.flash_attn),
            template=records.from_dict(TemplateRecord, to_dict()) if callable(to_dict) else None,
        )

    # -- the shared prefix ----------------------------------------------------------------------

    def share_prefix(self, a: Sequence[Message], b: Sequence[Message]) -> None:
        self._prefix = self._prefix_of(a, b)

    def _prefix_of(self, a: Sequence[Message], b: Sequence[Message]) -> list[int]:
        ta, tb = self.engine.tokenize_chat(a), self.engine.tokenize_chat(b)
        # A row whose text merges with the last shared token starts with less of it: keep_prefix
        # then keeps what it does share (the same whatever came before), only a little slower.
        return ta[: common_prefix(ta, tb)]

    def _pin(self, prompt: Sequence[int], prefix: Sequence[int]) -> None:
        self.engine.keep_prefix(prefix if self.reuse_prefix else [], prompt)

    # -- generating -----------------------------------------------------------------------------

    def _room(self, tokens: Sequence[int], prompt_text: str, max_tokens: int) -> int:
        model = self.engine.model
        assert model is not None
        room = model.n_ctx - len(tokens)
        if room < min(max_tokens, MIN_ANSWER_ROOM):
            raise RowError(
                f"The prompt needs {len(tokens):,} tokens, more than the model's context of {model.n_ctx:,} "
                "leaves room for with an answer.",
                "Shorten the template or the few-shot examples, or load the model with a larger context.",
                prompt_text,
            )
        return room

    def _stream(
        self,
        tokens: list[int],
        sampling: SamplingSettings,
        cancel: CancelToken,
        max_new: int,
        grammar: str | None,
        prompt_text: str,
    ) -> tuple[Reply, Generation]:
        reply: Reply | None = None
        try:
            for item in self.engine.stream_tokens(tokens, sampling, cancel, max_new_tokens=max_new, grammar=grammar):
                if isinstance(item, Reply):
                    reply = item
        except EngineCrashError:
            raise  # the engine process ended: not this row's fault; the run pauses, resume redoes the row
        except HearthError as exc:  # llama.cpp failed on this prompt; the model is still loaded
            raise RowError(exc.message, exc.hint, prompt_text) from None
        assert reply is not None
        return reply, Generation.of(reply, prompt_text, {"prompt_eval_tokens": reply.timings.prompt_eval_tokens})

    def generate(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings,
        cancel: CancelToken,
        constraint: Constraint | None = None,
    ) -> Generation:
        try:
            prompt_text = self.engine.render(messages)
        except EngineCrashError:
            raise  # the engine process ended: the run pauses
        except HearthError as exc:
            raise RowError(exc.message, exc.hint) from None
        tokens = self.engine.tokenize_chat(messages)
        room = self._room(tokens, prompt_text, sampling.max_tokens)
        grammar = constraint.gbnf if constraint else None
        self._pin(tokens, self._prefix)
        return self._stream(tokens, sampling, cancel, min(sampling.max_tokens, room), grammar, prompt_text)[1]

    def answer_from_documents(
        self,
        store: DocumentStore,
        collections: Sequence[str],
        question: str,
        system_prompt: str,
        sampling: SamplingSettings,
        cancel: CancelToken,
        k: int | None = None,
    ) -> DocumentAnswer:
        from desktop_app.core.rag import answer as rag_answer

        started = time.perf_counter()
        prompt = rag_answer.prepare(
            self.engine, store, collections, question, (), system_prompt, None, k, sampling.max_tokens
        )
        seed = sampling.seed
        if prompt.nothing_relevant:  # documents only and nothing relevant: the model is not asked (as in the chat)
            result = rag_answer.finish(prompt, rag_answer.NO_ANSWER)
            generation = Generation(
                rag_answer.NO_ANSWER, "stop", seed, prompt.prompt_text, len(prompt.tokens), 0,
                time.perf_counter() - started,
            )  # fmt: skip
        else:
            system = prompt.messages[0]
            prefix = self._document_prefixes.get(system.content)
            if prefix is None:
                probe = [Message("user", "Sources:\n\n[1] a"), Message("user", "Sources:\n\n[1] b")]
                prefix = self._prefix_of([system, probe[0]], [system, probe[1]])
                self._document_prefixes[system.content] = prefix
            self._pin(prompt.tokens, prefix)
            reply, generation = self._stream(
                prompt.tokens, sampling, cancel, prompt.max_new_tokens, None, prompt.prompt_text
            )
            if generation.finish == "cancelled":
                return DocumentAnswer(generation, [], [], False, False)
            result = rag_answer.finish(prompt, reply)
            generation.seconds = time.perf_counter() - started
        retrieved = [
            RetrievedPassage(
                rank, hit.source, hit.name, hit.page, round(hit.score, 6),
                any(hit.chunk_id == s.chunk_id for s in prompt.sources),
            )
            for rank, hit in enumerate(prompt.retrieval.hits, start=1)
        ]  # fmt: skip
        generation.extra["retrieval_k"] = prompt.retrieval.k
        return DocumentAnswer(
            generation=generation,
            retrieved=retrieved,
            cited=[c.number for c in result.cited],
            # Flagged as the chat flags it: a bad citation, a cited source that does not say it, or a
            # claim (cited or not) that no source supports.
            flagged=bool(result.invalid_citations)
            or any(s.unsupported for s in result.sentences)
            or bool(result.unsupported_claims),
            no_answer=result.no_answer,
            warnings=list(result.warnings),
        )
