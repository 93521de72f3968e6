"""Measure variants of a model on this machine, each in a fresh child process.

For each variant: file size, load time, peak memory (RAM; VRAM when layers are
offloaded to an NVIDIA GPU), prompt and generation speed, perplexity on an
evaluation text and, against the reference variant, mean KL divergence and top-1
token agreement over exactly the same tokens; optionally its answer to a prompt
with the same seed and settings as the others.

Order of work inside a child, and why:

1. load the model through :class:`~desktop_app.core.inference.engine.Engine`, exactly as chat does;
2. speed: a full warm-up pass (pages the weights in, wakes the CPU), then one batch of
   prompt tokens with logits for the last token only (what chat does) and N tokens decoded
   one by one, greedily — the same two figures ``llama-bench`` reports (pp and tg). Later
   rounds, each a fresh child that measures speed only, go through the variants in
   alternating order; the median is kept, the rounds recorded, and a round during which other
   programs used much of the CPU is said so;
3. peak memory is read *here*, before the quality pass: its logits buffers are the
   lab's own overhead, not what the model needs to chat;
4. quality: the evaluation windows, logits for the scored half only;
5. the answer to the prompt, streamed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core import hardware, paths
from desktop_app.core.cancel import CancelToken, Progress, ProgressCallback
from desktop_app.core.errors import HearthError
from desktop_app.core.memory import peak_rss_bytes, process_vram_bytes, rss_bytes
from desktop_app.core.quantlab.results import (
    MEASURED_METRICS,
    QUALITY_FIELDS,
    CompareSettings,
    ComparisonRun,
    MachineInfo,
    VariantResult,
)
from desktop_app.core.quantlab.subproc import ChildSender, Message, run_child
from desktop_app.core.quantlab.variants import Variant, describe_variant, pick_reference, same_model
from desktop_app.core.settings import SamplingSettings

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama

log = logging.getLogger(__name__)

SAMPLE_TEXT_NAME = "alice-in-wonderland-ch1-2.txt"
SAMPLE_TEXT_LABEL = "Alice's Adventures in Wonderland, chapters I–II (Lewis Carroll)"
# Share of one variant's progress bar for each phase of its work.
_PHASES = {"load": (0.0, 0.15), "speed": (0.15, 0.35), "quality": (0.35, 0.9), "answer": (0.9, 1.0)}


# -- settings and inputs ---------------------------------------------------------------------


@dataclass(frozen=True)
class EvalText:
    """The text perplexity and KL divergence are measured on, and where it came from."""

    text: str
    source: str  # what the user sees: the sample's title, a file path, "pasted text"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @classmethod
    def sample(cls) -> EvalText:
        path = sample_text_path()
        return cls(path.read_text(encoding="utf-8"), SAMPLE_TEXT_LABEL)

    @classmethod
    def from_file(cls, path: str | Path) -> EvalText:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise HearthError(f"Cannot read “{path.name}”: {exc.strerror or exc}.") from None
        if not text.strip():
            raise HearthError(f"“{path.name}” has no text.", "Pick a plain-text file.")
        return cls(text, str(path))

    @classmethod
    def pasted(cls, text: str) -> EvalText:
        if not text.strip():
            raise HearthError("The evaluation text is empty.", "Paste some text, or use the sample.")
        return cls(text, "pasted text")


def sample_text_path() -> Path:
    return paths.resources_dir() / "samples" / SAMPLE_TEXT_NAME


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompareEvent:
    """What a running comparison tells its viewer besides progress.

    kind: "started" (variant ``index`` begins), "answer" (``text`` is the next piece
    of its answer), "result" (``result`` is its finished row).
    """

    kind: str
    index: int
    text: str = ""
    result: VariantResult | None = None


EventCallback = Callable[[CompareEvent], None]


# -- the parent side ------------------------------------------------------------------------


def run_comparison(
    models: Sequence[str | Path],
    settings: CompareSettings | None = None,
    text: EvalText | None = None,
    *,
    reference: str | Path | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_event: EventCallback | None = None,
    save: bool = True,
) -> ComparisonRun:
    """Measures every model, the reference first, and (``save``) stores the run.

    The reference is ``reference`` if given (it is added to ``models`` when missing),
    else the variant with the most bits per weight. Raises HearthError when the
    reference cannot be measured, Cancelled when ``cancel`` fires (nothing is saved).
    A variant that fails is kept in the results with its ``error``.
    """
    from desktop_app.core.models.fingerprint import cached_sha256

    settings = settings or CompareSettings()
    settings.validate()
    text = text or EvalText.sample()
    cancel = cancel or CancelToken()
    started = time.time()
    paths_in = [Path(m) for m in models]
    if reference is not None and Path(reference).resolve() not in {p.resolve() for p in paths_in}:
        paths_in.insert(0, Path(reference))
    if not paths_in:
        raise HearthError("Pick at least one model to measure.")
    seen: set[Path] = set()
    variants: list[Variant] = []
    for p in paths_in:
        if p.resolve() in seen:
            continue
        seen.add(p.resolve())
        variants.append(describe_variant(p))
    ordered = measuring_order(variants, reference)
    notes: list[str] = []
    if not same_model(ordered):
        notes.append(
            "These files are not all variants of one model: KL divergence and agreement are "
            "only meaningful between variants that share the reference's vocabulary."
        )
    sampling = SamplingSettings(**asdict(settings.sampling))
    if sampling.seed < 0:
        sampling.seed = random.randrange(2**31)  # one seed for every variant, recorded with the run
    settings.sampling = sampling
    n = len(ordered)
    # Progress counts each variant's full measurement as 1 and all its later speed rounds as 0.25.
    total = n + (0.25 * n if settings.speed_rounds > 1 else 0.0)

    def report(index: int, fraction: float, message: str) -> None:
        if progress:
            progress(Progress(index + min(1.0, fraction), total, message))

    def report_rounds(fraction: float, message: str) -> None:
        if progress:
            progress(Progress(n + (total - n) * min(1.0, fraction), total, message))

    def job_for(i: int, v: Variant) -> dict[str, Any]:
        return {
            "path": str(v.path),
            "role": "reference" if i == 0 else "variant",
            "store": str(store_dir),
            "settings": settings.to_dict(),
            "text": text.text,
            "tokens": ref_tokens,
        }

    results: list[VariantResult] = []
    n_text_tokens = 0
    kl_method = ""
    with tempfile.TemporaryDirectory(prefix="hearth-quantlab-") as tmp:
        store_dir = Path(tmp) / "reference"
        ref_tokens: list[int] | None = None
        for i, v in enumerate(ordered):
            cancel.raise_if_cancelled()
            if on_event:
                on_event(CompareEvent("started", i))
            report(i, 0.0, f"{v.name}: fingerprinting")
            sha256 = cached_sha256(v.path, cancel=cancel)
            row = VariantResult(
                path=str(v.path),
                name=v.label,
                sha256=sha256,
                quant=v.quant,
                bits_per_weight=round(v.bits_per_weight, 3),
                size_bytes=v.size_bytes,
                is_reference=i == 0,
            )
            job = job_for(i, v)
            try:
                message = measure_in_child(job, i, report, on_event, cancel, v.name)
            except HearthError as exc:
                if i == 0:
                    raise HearthError(
                        f"The reference, {v.name}, could not be measured: {exc.message}", exc.hint
                    ) from None
                row.error = str(exc)
                log.warning("Variant %s failed: %s", v.name, exc)
            else:
                _fill(row, message)
                if i == 0:
                    ref_tokens = list(message["tokens"])
                    n_text_tokens = len(ref_tokens)
                    kl_method = str(message.get("kl_method", ""))
            results.append(row)
            if on_event:
                on_event(CompareEvent("result", i, result=row))
        _speed_rounds(ordered, results, job_for, settings, report_rounds, on_event, cancel)
    run = ComparisonRun(
        settings=settings,
        text_source=text.source,
        text_sha256=text.sha256,
        n_text_tokens=n_text_tokens,
        kl_method=kl_method,
        results=results,
        machine=_machine(results, notes),
        created_at=started,
        duration_s=time.time() - started,
        title=_title(ordered),
    )
    if save:
        from desktop_app.core.quantlab.saved import save as save_run

        save_run(run)
    return run


def measuring_order(variants: Sequence[Variant], reference: str | Path | None = None) -> list[Variant]:
    """The reference (``reference``, else the most bits per weight) first, then the others by
    bits per weight, highest first: the order in which they are measured and shown."""
    if reference is not None:
        wanted = Path(reference).resolve()
        ref = next((v for v in variants if v.path.resolve() == wanted), None)
        if ref is None:
            raise HearthError(f"The reference, {Path(reference).name}, is not among the models compared.")
    else:
        ref = pick_reference(variants)
    return [ref, *sorted((v for v in variants if v is not ref), key=lambda v: -v.bits_per_weight)]


def measure_in_child(
    job: dict[str, Any],
    index: int = 0,
    report: Callable[[int, float, str], None] | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    name: str = "",
) -> Message:
    """Runs one variant's measurement in a fresh process; returns its result message."""

    def on_message(message: Message) -> None:
        event = message.get("event")
        if event == "progress" and report:
            start, end = _PHASES.get(str(message.get("phase")), (0.0, 1.0))
            fraction = start + (end - start) * float(message.get("fraction") or 0.0)
            report(index, fraction, f"{name}: {message.get('message', '')}")
        elif event == "answer" and on_event:
            on_event(CompareEvent("answer", index, text=str(message.get("text", ""))))

    return run_child(_measure_in_child, job, on_message, cancel, what=f"Measuring {name or 'the model'}")


# The numbers a child measures for each variant (saved runs keep each in a column of its own).


BUSY_SHARE = 0.25  # other programs using this share of the CPU while speed is measured: say so


def _speed_rounds(
    ordered: Sequence[Variant],
    results: Sequence[VariantResult],
    job_for: Callable[[int, Variant], dict[str, Any]],
    settings: CompareSettings,
    report: Callable[[float, str], None],
    on_event: EventCallback | None,
    cancel: CancelToken,
) -> None:
    """The speed rounds after the first, in alternating order; then medians, spread, busy notes."""
    measured = [(i, v) for i, v in enumerate(ordered) if results[i].error is None]
    done, total = 0, max(1, (settings.speed_rounds - 1) * len(measured))
    for r in range(1, settings.speed_rounds):
        for i, v in reversed(measured) if r % 2 else measured:
            cancel.raise_if_cancelled()
            report(done / total, f"speed, round {r + 1} of {settings.speed_rounds}: {v.name}")
            try:
                message = measure_in_child(job_for(i, v) | {"role": "speed"}, i, None, None, cancel, v.name)
            except HearthError as exc:
                results[i].notes.append(f"Speed round {r + 1} failed: {exc.message}")
            else:
                results[i].details.setdefault("speed_rounds", []).append(message["speed_round"])
            done += 1
    for i, _v in measured:
        row = results[i]
        runs = row.speed_runs
        if runs:
            row.prompt_tok_s = statistics.median(float(x["prompt_tok_s"]) for x in runs)
            row.gen_tok_s = statistics.median(float(x["gen_tok_s"]) for x in runs)
        busiest = max((float(x.get("others_cpu", 0.0)) for x in runs), default=0.0)
        if busiest >= BUSY_SHARE:
            row.notes.append(
                f"Other programs used about {busiest:.0%} of this computer's processors while its speed was "
                "measured: its speed may read low. Close them and measure again for figures to quote."
            )
        if on_event and settings.speed_rounds > 1:
            on_event(CompareEvent("result", i, result=row))


def _fill(row: VariantResult, message: Message) -> None:
    for key in (*MEASURED_METRICS, "n_scored", "answer", "answer_timings"):
        if key in message:
            setattr(row, key, message[key])
    row.notes = list(message.get("notes", []))
    row.details = dict(message.get("details", {}))
    if "speed_round" in message:
        row.details["speed_rounds"] = [message["speed_round"]]
    for key, value in dict(message.get("quality", {})).items():
        if key in QUALITY_FIELDS:
            setattr(row, key, value)
    if row.is_reference:
        row.kl_divergence, row.kl_p99, row.top1_agreement = 0.0, 0.0, 1.0
        row.kl_unc, row.kl_p999, row.kl_max, row.top1_unc = 0.0, 0.0, 0.0, 0.0
        row.ppl_ratio, row.ppl_ratio_unc, row.rms_dp, row.rms_dp_unc = 1.0, 0.0, 0.0, 0.0


def _machine(results: Sequence[VariantResult], notes: Sequence[str]) -> MachineInfo:
    total, _available = hardware.memory()
    details = next((r.details for r in results if r.details), {})
    return MachineInfo(
        ram_total=total,
        cpu_physical_cores=hardware.physical_cores(),
        os=sys.platform,
        backend=str(details.get("backend", "")),
        llama_cpp_version=str(details.get("llama_cpp_version", "")),
        notes=tuple(notes),
    )


def _title(variants: Sequence[Variant]) -> str:
    bases = sorted({v.base for v in variants})
    quants = ", ".join(v.quant for v in variants)
    return f"{' / '.join(bases)}: {quants}"


# -- the child side -----------------------------------------------------------------------------


class _RssSampler(threading.Thread):
    """Samples this process's RSS every 20 ms: the peak where the OS keeps none (macOS)."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.max_rss = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        proc = psutil.Process()
        while not self._stop_event.is_set():
            with contextlib.suppress(psutil.Error):
                self.max_rss = max(self.max_rss, int(proc.memory_info().rss))
            self._stop_event.wait(0.02)

    def stop(self) -> None:
        self._stop_event.set()


class Decoder:
    """Feeds tokens to a loaded model through llama.cpp's batch API, asking for logits
    only at the positions that need them (llama-cpp-python's ``eval`` computes all or
    none). Used by the lab's child and by the benchmark."""

    def __init__(self, llm: Llama) -> None:
        from llama_cpp._internals import LlamaBatch

        self.llm = llm
        self.ctx = llm._ctx.ctx
        self.n_batch = int(llm.n_batch)
        self.n_vocab = int(llm.n_vocab())
        self._batch = LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)

    def clear(self) -> None:
        import llama_cpp

        memory = llama_cpp.llama_get_memory(self.ctx)
        if memory is not None:
            llama_cpp.llama_memory_clear(memory, True)
        self.llm.reset()  # llama-cpp-python's own record of what the cache holds

    def decode(self, tokens: Sequence[int], pos0: int, want_logits: Callable[[int], bool]) -> npt.NDArray[np.float32]:
        """Decodes ``tokens`` at positions pos0...; returns the logits rows asked for, in order."""
        import llama_cpp
        import numpy as np

        rows = []
        batch = self._batch.batch
        for start in range(0, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            n_out = 0
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = pos0 + start + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                flag = want_logits(start + i)
                batch.logits[i] = flag
                n_out += int(flag)
            batch.n_tokens = len(chunk)
            status = llama_cpp.llama_decode(self.ctx, batch)
            if status != 0:
                raise HearthError(
                    f"llama.cpp failed to process the text (status {status}).",
                    "Try a smaller window or context.",
                )
            if n_out:
                pointer = llama_cpp.llama_get_logits(self.ctx)
                flat = np.ctypeslib.as_array(pointer, shape=(n_out * self.n_vocab,))
                rows.append(flat.reshape(n_out, self.n_vocab).copy())
        if not rows:
            return np.empty((0, self.n_vocab), dtype=np.float32)
        return np.concatenate(rows) if len(rows) > 1 else rows[0]

    def close(self) -> None:
        self._batch.close()


def measure_speed(
    decoder: Decoder, tokens: Sequence[int], bos: int | None, n_prompt: int, n_gen: int
) -> tuple[float, float]:
    """(prompt tok/s, generation tok/s): one batch of ``n_prompt`` tokens with logits for the
    last only, then ``n_gen`` tokens decoded one at a time, each the greedy choice.
    A short warm-up first pages the weights in."""
    import numpy as np

    lead = [bos] if bos is not None else []
    warm = (lead + list(tokens[:8]))[:8]
    decoder.clear()
    decoder.decode(warm, 0, lambda i: i == len(warm) - 1)
    decoder.clear()
    n_prompt = max(2, min(n_prompt, decoder.n_batch, len(lead) + len(tokens)))
    prompt = (lead + list(tokens))[:n_prompt]
    t0 = time.perf_counter()
    logits = decoder.decode(prompt, 0, lambda i: i == len(prompt) - 1)
    prompt_s = time.perf_counter() - t0
    n_ctx = decoder.llm.n_ctx()
    n_gen = max(1, min(n_gen, n_ctx - len(prompt)))
    token = int(np.argmax(logits[-1]))
    t0 = time.perf_counter()
    for k in range(n_gen):
        logits = decoder.decode([token], len(prompt) + k, lambda _i: True)
        token = int(np.argmax(logits[-1]))
    gen_s = time.perf_counter() - t0
    decoder.clear()
    return len(prompt) / prompt_s, n_gen / gen_s


class _OthersLoad:
    """The share of this computer's processors that other programs used during a ``with`` block."""

    def __enter__(self) -> _OthersLoad:
        import psutil

        self._process = psutil.Process()
        self._busy0 = self._busy(psutil.cpu_times())
        self._own0 = sum(self._process.cpu_times()[:2])
        self._t0 = time.perf_counter()
        self.share = 0.0
        return self

    @staticmethod
    def _busy(times: Any) -> float:
        return float(sum(times)) - float(times.idle) - float(getattr(times, "iowait", 0.0))

    def __exit__(self, *_exc: object) -> None:
        import psutil

        wall = time.perf_counter() - self._t0
        others = self._busy(psutil.cpu_times()) - self._busy0 - (sum(self._process.cpu_times()[:2]) - self._own0)
        self.share = max(0.0, min(1.0, others / (wall * (psutil.cpu_count() or 1)))) if wall > 0 else 0.0


def speed_round(
    decoder: Decoder, tokens: Sequence[int], bos: int | None, settings: CompareSettings
) -> dict[str, float]:
    """One speed measurement, with how busy the rest of the computer was meanwhile."""
    with _OthersLoad() as others:
        prompt_tok_s, gen_tok_s = measure_speed(
            decoder, tokens, bos, settings.speed_prompt_tokens, settings.speed_gen_tokens
        )
    return {"prompt_tok_s": prompt_tok_s, "gen_tok_s": gen_tok_s, "others_cpu": others.share}


def _between(first: int, last: int) -> Callable[[int], bool]:
    return lambda i: first <= i <= last


def _measure_in_child(job: dict[str, Any], conn: Any) -> None:
    """Child process: measures one variant (see the module doc for the order of work)."""
    ChildSender(conn).run(lambda send: _measure(job, send))


def _measure(job: dict[str, Any], send: ChildSender) -> dict[str, Any]:
    import llama_cpp

    from desktop_app.core.inference.engine import Engine, Message, Reply
    from desktop_app.core.quantlab import metrics
    from desktop_app.core.settings import LoadSettings

    settings = CompareSettings.from_dict(job["settings"])
    sampler = _RssSampler()
    sampler.start()
    baseline = rss_bytes()
    notes: list[str] = []

    reported = [0.0, -1.0]  # time and fraction of the last report

    def progress(phase: str, fraction: float, message: str) -> None:
        now = time.monotonic()
        if phase == "load" and 0 < fraction < 1 and (now - reported[0] < 0.1 or fraction - reported[1] < 0.01):
            return  # llama.cpp reports loading per tensor: hundreds of times a second
        reported[0], reported[1] = now, fraction
        send.send("progress", phase=phase, fraction=fraction, message=message)

    progress("load", 0.0, "loading")
    engine = Engine()
    load = LoadSettings(
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_gpu_layers=settings.n_gpu_layers,
        flash_attn=settings.flash_attn,
    )
    model = engine.load(job["path"], load, progress=lambda p: progress("load", p.fraction or 0.0, "loading"))
    llm = engine._llm
    assert llm is not None
    vocab = llm._model.vocab
    bos = int(llm.token_bos()) if llama_cpp.llama_vocab_get_add_bos(vocab) else None
    n_vocab = int(llm.n_vocab())
    text: str = job["text"]
    if settings.tokens > 0:
        own = llm.tokenize(text[: settings.tokens * 12].encode("utf-8"), add_bos=False, special=False)
        own = own[: settings.tokens]
    else:  # the whole text, as llama-perplexity scores it
        own = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    tokens: list[int] = own
    comparable = True
    if job.get("tokens") is not None:
        ref_tokens = list(job["tokens"])
        if own == ref_tokens:
            tokens = ref_tokens
        else:
            comparable = False
            notes.append(
                "This model splits the text into different tokens from the reference's: "
                "its perplexity is on its own tokens, and KL divergence cannot be measured."
            )
    window = min(settings.window, llm.n_ctx())
    windows = metrics.plan_windows(tokens, window, bos)
    if not windows:
        raise HearthError("The evaluation text is too short.", "Use a longer text, or the sample.")
    decoder = Decoder(llm)

    progress("speed", 0.0, "measuring speed")
    measure_speed(decoder, tokens, bos, settings.speed_prompt_tokens, settings.speed_gen_tokens)  # warm-up
    speed = speed_round(decoder, tokens, bos, settings)
    if job["role"] == "speed":  # a later speed round: nothing else is measured
        sampler.stop()
        decoder.close()
        engine.unload()
        return {"speed_round": speed}
    sampler.stop()
    peak = peak_rss_bytes(sampler.max_rss)
    vram = process_vram_bytes() if model.n_gpu_layers else None

    n_positions = sum(w.n_scored for w in windows)
    store: metrics.ReferenceStore | None = None
    store_dir = Path(job["store"])
    if job["role"] == "reference":
        free = shutil.disk_usage(store_dir.parent).free
        meta = metrics.ReferenceStore.choose(n_positions, n_vocab, settings.kl_top_k, free)
        store = metrics.ReferenceStore.create(store_dir, meta)
    elif comparable:
        store = metrics.ReferenceStore.open(store_dir)
        if store.meta.n_vocab != n_vocab or store.meta.n_positions != n_positions:
            notes.append("This model's vocabulary differs from the reference's: KL divergence cannot be measured.")
            store = None
    acc = metrics.Accumulator()
    position = 0
    for k, w in enumerate(windows):
        progress("quality", k / len(windows), f"perplexity, window {k + 1} of {len(windows)}")
        first, last = w.first_scored, len(w.tokens) - 2
        decoder.clear()
        logits = decoder.decode(w.tokens, 0, _between(first, last))
        if job["role"] == "reference" and store is not None:
            acc.add(store.write(position, logits, w.targets))
        elif store is not None:
            store.compare(position, logits, w.targets, acc)
        else:
            acc.add(metrics.nll_of_logits(logits, w.targets))
        del logits
        position += w.n_scored
    if job["role"] == "reference" and store is not None:
        store.flush()
    decoder.clear()
    decoder.close()
    stats = acc.stats()

    answer: str | None = None
    answer_timings: dict[str, Any] | None = None
    if settings.prompt.strip():
        progress("answer", 0.0, "answering the prompt")
        messages = [Message("system", settings.system_prompt)] if settings.system_prompt.strip() else []
        messages.append(Message("user", settings.prompt))
        sampling = SamplingSettings(**asdict(settings.sampling))
        for item in engine.stream_chat(messages, sampling):
            if isinstance(item, Reply):
                answer = item.text
                answer_timings = item.timings.to_dict()
                answer_timings["finish"] = item.finish
                answer_timings["seed"] = item.seed
            else:
                send.send("answer", text=item)
    progress("answer", 1.0, "done")
    engine.unload()
    result: dict[str, Any] = {
        "load_s": model.load_s,
        "peak_rss_bytes": peak,
        "baseline_rss_bytes": baseline,
        "vram_bytes": vram,
        "prompt_tok_s": speed["prompt_tok_s"],
        "gen_tok_s": speed["gen_tok_s"],
        "speed_round": speed,
        "perplexity": stats.perplexity,
        "n_scored": stats.n,
        "kl_divergence": stats.kl_divergence,
        "kl_p99": stats.kl_p99,
        "top1_agreement": stats.top1_agreement,
        "quality": {
            "perplexity_unc": stats.perplexity_unc,
            "ppl_ratio": stats.ppl_ratio,
            "ppl_ratio_unc": stats.ppl_ratio_unc,
            "kl_unc": stats.kl_unc,
            "kl_p999": stats.kl_p999,
            "kl_max": stats.kl_max,
            "rms_dp": stats.rms_dp,
            "rms_dp_unc": stats.rms_dp_unc,
            "top1_unc": stats.top1_unc,
            "kl_method": store.description if store is not None else "",
        },
        "answer": answer,
        "answer_timings": answer_timings,
        "notes": notes + model.notes,
        "details": {
            "backend": model.backend,
            "n_gpu_layers": model.n_gpu_layers,
            "n_threads": model.n_threads,
            "n_ctx": model.n_ctx,
            "window": window,
            "windows": len(windows),
            "llama_cpp_version": model.llama_cpp_version,
        },
    }
    if job["role"] == "reference":
        result["tokens"] = tokens
        result["kl_method"] = store.description if store is not None else ""
    return result
