"""The engine in a child process: one process per loaded model, with :class:`Engine`'s interface.

A native crash inside llama.cpp, the out-of-memory killer or a chat template that never ends
must not take Hearth down, so every llama.cpp use in the app goes through an
:class:`EngineProcess`: a proxy in the caller's process that is an ``Engine`` to its callers
(same methods, ``isinstance`` holds) while the ``Llama`` lives in a child started with
``multiprocessing``'s *spawn* method (as the quantisation lab's children; also in a frozen app).

The proxy is a generic RPC: any public ``Engine`` method or attribute is reached by name, so a
method added to ``Engine`` works through the proxy untouched. Arguments and results cross the
pipe pickled; a :class:`CancelToken` argument becomes the child's own token, cancelled when the
caller's is (a second pipe and a thread in the child; the engine's abort callback then stops
prompt processing natively); any other callable argument (load progress) is called back in the
caller's thread. Generator methods stream their items in batches (the first at once, then about
every 50 ms), so decoding never waits on the pipe.

When the child dies in a call, the call raises :class:`EngineCrashError` (in plain words: the
model, the signal or exit code, what it was doing; logged in ``logs/engine-crashes.log``) and
the next call starts a fresh process with the same model and settings. Stop is honoured within
:data:`KILL_AFTER_S` or the process is killed (and, again, restarted at the next call). Unloading
ends the process, so its memory returns to the system.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import sys
import tempfile
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.core.cancel import CancelToken, ProgressCallback
from desktop_app.core.errors import Cancelled, HearthError
from desktop_app.core.inference import engine_crash, templates
from desktop_app.core.inference.engine import Engine, LoadedModel
from desktop_app.core.inference.engine_crash import CrashReport, EngineCrashError
from desktop_app.core.settings import LoadSettings

if TYPE_CHECKING:
    from desktop_app.core.fit.together import Loaded

log = logging.getLogger(__name__)

BATCH_S = 0.05  # streamed items cross the pipe about this often (the first one at once)
BATCH_ITEMS = 256
# After Stop, the engine has this long to notice before its process is killed: a second on the
# clock in which it either worked a second of CPU time or, on a machine with more work than cores,
# had its share of that second (load per core), so a starved engine is not taken for a stuck one.
KILL_AFTER_S = 1.0
_POLL_S = 0.05
_EXIT_WAIT_S = 10.0


# -- the child ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CancelArg:
    """Stands for the call's CancelToken on the pipe."""


@dataclass(frozen=True)
class _CallbackArg:
    """Stands for a callable argument: calls cross back to the caller."""

    index: int


class _Watcher:
    """The child's side of Stop: a thread blocked on the cancel pipe cancels the current call's token
    (``id``: cancel; ``-id``: the caller stopped reading the stream, so it is ended too)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._current: tuple[int, CancelToken] | None = None
        self._early: set[int] = set()  # cancels that arrived before their call
        self._abandoned: set[int] = set()
        threading.Thread(target=self._run, name="hearth-engine-cancel", daemon=True).start()

    def begin(self, call_id: int) -> CancelToken:
        token = CancelToken()
        with self._lock:
            self._current = (call_id, token)
            early = call_id in self._early or call_id in self._abandoned
        if early:
            token.cancel()
        return token

    def end(self, call_id: int) -> None:
        with self._lock:
            self._current = None
            self._early = {i for i in self._early if i > call_id}
            self._abandoned = {i for i in self._abandoned if i > call_id}

    def abandoned(self, call_id: int) -> bool:
        return call_id in self._abandoned

    def _run(self) -> None:
        while True:
            try:
                signed: int = self._conn.recv()
            except (EOFError, OSError):
                return
            call_id = abs(signed)
            with self._lock:
                if signed < 0:
                    self._abandoned.add(call_id)
                current = self._current
                if current is None or current[0] != call_id:
                    self._early.add(call_id)
                    continue
            current[1].cancel()


def _quiet_output(stderr_path: str | None) -> None:
    """Sends the child's error output (llama.cpp's log lines, a native crash's last words) to a file
    the parent reads after a crash, instead of the user's terminal (``-v`` keeps it there)."""
    import faulthandler

    if stderr_path:
        fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(fd, 2)
        os.close(fd)
    faulthandler.enable()  # a crash writes the Python stack to the error output (the crash log)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a HearthError carrying its text."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any exception type may refuse to pickle
        return HearthError(f"{type(exc).__name__}: {exc}")
    return exc


class _ChildState:
    """What the proxy mirrors of the child's engine, sent only when it changed."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._model: LoadedModel | None = None  # held, so its id is never another's
        self._baseline = 0

    def changes(self) -> tuple[LoadedModel | None, int] | None:
        model, baseline = self._engine.model, self._engine.baseline_rss
        if model is self._model and baseline == self._baseline:
            return None
        self._model, self._baseline = model, baseline
        return model, baseline


def _child_main(conn: Any, cancel_conn: Any, stderr_path: str | None, verbose: bool) -> None:
    """The engine process: serves calls one at a time until told to exit or the pipe closes."""
    import signal

    with contextlib.suppress(ValueError, AttributeError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it cancels)
    _quiet_output(None if verbose else stderr_path)
    if verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    engine = Engine()
    state = _ChildState(engine)
    watcher = _Watcher(cancel_conn)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message[0] == "exit":
            break
        _, call_id, name, get, args, kwargs = message
        token = watcher.begin(call_id)
        try:
            _serve(conn, engine, state, watcher, token, call_id, name, get, args, kwargs)
        except (BrokenPipeError, OSError):
            break  # the parent is gone
        finally:
            watcher.end(call_id)
    engine.unload()


def _serve(
    conn: Any,
    engine: Engine,
    state: _ChildState,
    watcher: _Watcher,
    token: CancelToken,
    call_id: int,
    name: str,
    get: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    def unwrap(value: Any) -> Any:
        if isinstance(value, _CancelArg):
            return token
        if isinstance(value, _CallbackArg):
            return functools.partial(_call_back, conn, call_id, value.index)
        return value

    try:
        if name.startswith("_"):
            raise AttributeError(f"The engine has no public attribute {name!r}")
        target = getattr(engine, name)
        result = target if get else target(*map(unwrap, args), **{k: unwrap(v) for k, v in kwargs.items()})
        if inspect.isgenerator(result):
            _send_stream(conn, state, watcher, call_id, result)
            return
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
        conn.send(("error", call_id, _portable(exc), traceback.format_exc(), state.changes()))
        return
    conn.send(("result", call_id, result, state.changes()))


def _call_back(conn: Any, call_id: int, index: int, *args: Any) -> None:
    conn.send(("callback", call_id, index, args))


def _send_stream(conn: Any, state: _ChildState, watcher: _Watcher, call_id: int, items: Iterator[Any]) -> None:
    batch: list[Any] = []
    last = float("-inf")  # the first item goes out at once (time to first token)
    try:
        for item in items:
            batch.append(item)
            now = time.monotonic()
            if now - last >= BATCH_S or len(batch) >= BATCH_ITEMS:
                conn.send(("items", call_id, batch))
                batch = []
                last = now
            if watcher.abandoned(call_id):
                break
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()
    conn.send(("end", call_id, batch, state.changes()))


# -- the proxy ------------------------------------------------------------------------------------


@dataclass
class _Call:
    id: int
    name: str
    cancel: CancelToken | None
    callbacks: list[Callable[..., Any]]
    items: int = 0  # streamed items received (what the engine was doing when it died)
    cancel_at: float = 0.0  # when Stop reached it (monotonic), 0 before
    cpu_at_cancel: float | None = None  # the engine process's CPU seconds then
    over: bool = False  # the child has sent its last message for it
    done: bool = False


@dataclass
class _Child:
    process: Any
    conn: Any
    cancel_conn: Any
    stderr_path: str | None
    used: bool = False  # a fresh process (nothing asked yet) can take the next load
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    def output_tail(self) -> str:
        if not self.stderr_path:
            return ""
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 8000))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def end(self, kill: bool = False) -> int | None:
        """Ends the process (asking first unless ``kill``); returns its exit code."""
        process = self.process
        if not kill and process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(("exit",))
            process.join(_EXIT_WAIT_S)
        if process.is_alive():
            process.kill()
        process.join(_EXIT_WAIT_S)
        code: int | None = process.exitcode
        for conn in (self.conn, self.cancel_conn):
            with contextlib.suppress(OSError):
                conn.close()
        if self.stderr_path:
            with contextlib.suppress(OSError):
                os.unlink(self.stderr_path)
        return code


def _verbose() -> bool:
    """``hearth -v``: log lines go to a terminal at INFO level, so llama.cpp's may too."""
    root = logging.getLogger()
    if root.getEffectiveLevel() > logging.INFO:
        return False
    return any(
        type(h) is logging.StreamHandler and h.level <= logging.INFO and getattr(h, "stream", None) is sys.stderr
        for h in root.handlers
    )


def _start_child() -> _Child:
    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=True)
    cancel_reader, cancel_writer = ctx.Pipe(duplex=False)
    verbose = _verbose()
    stderr_path = None
    if not verbose:
        fd, stderr_path = tempfile.mkstemp(prefix="hearth-engine-", suffix=".log")
        os.close(fd)
    process = ctx.Process(
        target=_child_main,
        args=(child_conn, cancel_reader, stderr_path, verbose),
        name="hearth-engine",
        daemon=True,
    )
    process.start()
    child_conn.close()  # the child holds its own copies: ours must go so its death reads as EOF
    cancel_reader.close()
    return _Child(process, parent_conn, cancel_writer, stderr_path)


# Every proxy with a process, for the fit check of several models loaded at once.
_live: weakref.WeakSet[EngineProcess] = weakref.WeakSet()


def loaded_models(exclude: object = None) -> list[Loaded]:
    """The models loaded now in engine processes of this app (but ``exclude``'s), each with its
    process's resident memory now (0 when it cannot be read)."""
    import psutil

    from desktop_app.core.fit.together import Loaded

    found = []
    for engine in list(_live):
        model, pid = engine.model, engine.pid
        if engine is exclude or model is None:
            continue
        rss = 0
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                rss = int(psutil.Process(pid).memory_info().rss)
        found.append(Loaded(model.name, model.info, model.n_ctx, rss))
    return found


class EngineProcess(Engine):
    """An :class:`Engine` whose ``Llama`` lives in a child process (see the module's docstring).

    Use it from one thread at a time, as an Engine; only a CancelToken passed to it is touched
    from elsewhere. ``model`` and ``baseline_rss`` mirror the child's engine.
    """

    def __init__(self) -> None:  # Engine.__init__ is not called: nothing of llama.cpp lives here
        self.model: LoadedModel | None = None
        self.baseline_rss = 0
        self._child: _Child | None = None
        self._reload: tuple[Path, LoadSettings, str] | None = None  # what a fresh process loads again
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._active: _Call | None = None
        self._finalizer: weakref.finalize | None = None

    # Public Engine methods and attributes not defined here are the child's, reached by name.
    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name in _PROXY_NAMES:
            return object.__getattribute__(self, name)
        return object.__getattribute__(self, "_remote")(name)

    def _remote(self, name: str) -> Any:
        attr = inspect.getattr_static(Engine, name, None)
        if isinstance(attr, staticmethod | classmethod):
            attr = attr.__func__
        if attr is None or isinstance(attr, property) or not callable(attr):
            return self._call(name, (), {}, get=True)
        if inspect.isgeneratorfunction(attr):

            def stream(*args: Any, **kwargs: Any) -> Iterator[Any]:
                return self._stream(name, args, kwargs)

            return functools.update_wrapper(stream, attr)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._call(name, args, kwargs)

        return functools.update_wrapper(call, attr)

    # -- the process ----------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The engine process's id, None while there is none."""
        child = self._child
        return child.process.pid if child is not None else None

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def prestart(self) -> None:
        """Starts a process now (it imports llama.cpp meanwhile), for the next load to take."""
        with self._lock:
            if self._child is None:
                self._set_child(_start_child())

    def _set_child(self, child: _Child | None) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._child = child
        if child is not None:
            self._finalizer = weakref.finalize(self, child.end)
            _live.add(self)

    def _end_child(self, kill: bool = False) -> int | None:
        child = self._child
        self._set_child(None)
        return child.end(kill) if child is not None else None

    def load(
        self,
        path: str | Path,
        settings: LoadSettings | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        template: str = templates.AUTO,
    ) -> LoadedModel:
        """Loads ``path`` in a fresh process (the previous model's process ends first, so its memory
        returns). Refuses in plain words when it does not fit beside the other loaded models."""
        from desktop_app.core.fit import together
        from desktop_app.core.models import gguf_meta

        path = Path(path)
        settings = settings or LoadSettings()
        info = gguf_meta.read_local(path)  # a broken file fails here, before the loaded model goes
        with self._lock:
            together.check_room(info, path.name, settings.n_ctx, loaded_models(exclude=self))
            if self._child is not None and self._child.used:
                self._end_child()
            self.model = None
            self._reload = None
            if self._child is None:
                self._set_child(_start_child())
            model: LoadedModel = self._call("load", (path, settings, progress, cancel, template), {})
            self._reload = (path, settings, template)
            return model

    def set_template(self, preference: str) -> templates.ChatTemplate:
        with self._lock:
            chosen: templates.ChatTemplate = self._call("set_template", (preference,), {})
            if self._reload is not None:
                self._reload = (self._reload[0], self._reload[1], preference)
            return chosen

    def unload(self) -> None:
        """Ends the engine process: all of the model's memory returns to the system."""
        with self._lock:
            self._end_child()
            self.model = None
            self._reload = None

    def close(self) -> None:
        self.unload()

    def _ensure_child(self, cancel: CancelToken | None = None) -> _Child:
        """The running process; a fresh one with the model loaded again after a crash or a kill
        (``cancel``, the waiting call's, stops that load too)."""
        child = self._child
        if child is not None and child.process.is_alive():
            return child
        if child is not None:  # died between calls (the out-of-memory killer): logged, then started again
            self._record_crash(_Call(0, "waiting_for_a_request", None, []))
        if self._reload is None:
            raise HearthError("No model is loaded.", "Pick a model first.")
        path, settings, template = self._reload
        self._set_child(_start_child())
        log.info("Starting a fresh engine for %s", path.name)
        try:
            self._call("load", (path, settings, None, cancel, template), {})
        except BaseException:
            self._end_child(kill=True)  # the next call tries again
            raise
        assert self._child is not None
        return self._child

    # -- calls ---------------------------------------------------------------------------------------

    def _send(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], get: bool) -> tuple[_Child, _Call]:
        if self._active is not None:
            raise RuntimeError(f"The engine is still answering {self._active.name}: finish or close that stream first")
        if name == "load" and self._child is not None:
            child = self._child
        else:
            child = self._ensure_child(next((a for a in (*args, *kwargs.values()) if isinstance(a, CancelToken)), None))
        call = _Call(next(self._ids), name, None, [])

        def wrap(value: Any) -> Any:
            if isinstance(value, CancelToken):
                call.cancel = value
                return _CancelArg()
            if callable(value) and not isinstance(value, type):
                call.callbacks.append(value)
                return _CallbackArg(len(call.callbacks) - 1)
            return value

        message = ("call", call.id, name, get, tuple(map(wrap, args)), {k: wrap(v) for k, v in kwargs.items()})
        child.used = True
        self._active = call
        try:
            child.conn.send(message)
        except (OSError, ValueError):
            pass  # the process is gone: _receive reports how it ended
        if call.cancel is not None:
            call.cancel.on_cancel(functools.partial(self._cancel, child, call))
        return child, call

    def _cancel(self, child: _Child, call: _Call, signed: int = 1) -> None:
        """From any thread: tells the child to stop ``call`` (``signed`` -1: the stream was abandoned)."""
        if call.done:
            return
        if not call.cancel_at:
            call.cancel_at = time.monotonic()
        with child.send_lock, contextlib.suppress(OSError, ValueError):
            child.cancel_conn.send(signed * call.id)

    def _receive(self, child: _Child, call: _Call) -> tuple[Any, ...]:
        """The next message for ``call``; runs callbacks; raises what the child raised, Cancelled
        when the child ignored Stop for :data:`KILL_AFTER_S` (it is killed), EngineCrashError when it died."""
        while True:
            if call.cancel_at and self._ignored_stop(child, call):
                log.warning("The engine did not stop within %.1f s of its work: killing it", KILL_AFTER_S)
                self._end_child(kill=True)
                self._stopped_by_kill(call)
                raise Cancelled
            try:
                ready = multiprocessing.connection.wait([child.conn, child.process.sentinel], timeout=_POLL_S)
            except OSError:
                ready = [child.process.sentinel]
            if not ready:
                continue
            if child.conn in ready:
                try:
                    message: tuple[Any, ...] = child.conn.recv()
                except (EOFError, OSError):
                    raise EngineCrashError(self._record_crash(call)) from None
                kind = message[0]
                if message[1] != call.id:
                    continue  # the end of a call abandoned by an error in the caller's thread
                if kind == "callback":
                    try:
                        call.callbacks[message[2]](*message[3])
                    except Exception:  # a progress report must not leave the pipe half read
                        log.exception("A callback of %s failed", call.name)
                    continue
                if kind in ("result", "end", "error"):
                    call.over = True
                    self._mirror(message[-1])
                if kind == "error":
                    exc: BaseException = message[2]
                    if not isinstance(exc, HearthError | Cancelled):
                        log.error("The engine failed in %s:\n%s", call.name, message[3])
                    raise exc
                return message
            if not child.process.is_alive():
                raise EngineCrashError(self._record_crash(call))

    @staticmethod
    def _ignored_stop(child: _Child, call: _Call) -> bool:
        """Whether the engine has had :data:`KILL_AFTER_S` since Stop, on the clock and on the CPU."""
        import psutil

        try:
            times = psutil.Process(child.process.pid).cpu_times()
            cpu: float | None = times.user + times.system
        except (psutil.Error, ValueError):
            cpu = None
        if call.cpu_at_cancel is None:
            call.cpu_at_cancel = cpu
        waited = time.monotonic() - call.cancel_at
        if waited < KILL_AFTER_S:
            return False
        if cpu is None or call.cpu_at_cancel is None or cpu - call.cpu_at_cancel >= KILL_AFTER_S:
            return True  # it worked a full second and did not stop: it is stuck in a loop
        try:
            load = os.getloadavg()[0] / (os.cpu_count() or 1)
        except (OSError, AttributeError):  # no load average (Windows)
            load = 1.0
        return waited >= KILL_AFTER_S * max(1.0, load)  # idle (a deadlock, a stopped process) or starved

    def _mirror(self, state: tuple[LoadedModel | None, int] | None) -> None:
        if state is not None:
            self.model, self.baseline_rss = state

    def _record_crash(self, call: _Call) -> CrashReport:
        """The process died in ``call``: records how, keeps the model to load again."""
        child = self._child
        tail = child.output_tail() if child is not None else ""
        code = self._end_child(kill=True)
        model, reload = self.model, self._reload
        if call.name == "load":
            self.model = None
            self._reload = None
        path = str(reload[0]) if reload else (str(model.path) if model else "")
        settings = reload[1] if reload else (model.settings if model else None)
        used = (model.n_threads, model.n_ctx) if model else (0, 0)
        report = engine_crash.record(path, settings, code, call.name, call.items, tail, used)
        log.warning("The engine process ended: %s (while %s)", report.how, report.doing)
        return report

    def _stopped_by_kill(self, call: _Call) -> None:
        if call.name == "load":
            self.model = None
            self._reload = None

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], get: bool = False) -> Any:
        with self._lock:
            child, call = self._send(name, args, kwargs, get)
            try:
                message = self._receive(child, call)
                if message[0] == "result":
                    return message[2]
                # A method that returned a generator without being one: its items, as a list.
                items = list(message[2])
                while message[0] != "end":
                    message = self._receive(child, call)
                    items.extend(message[2])
                return items
            finally:
                call.done = True
                self._active = None

    def _stream(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        with self._lock:
            child, call = self._send(name, args, kwargs, False)
            try:
                while True:
                    message = self._receive(child, call)
                    if message[0] == "result":  # cannot happen for a generator method: nothing to yield
                        return
                    call.items += len(message[2])
                    yield from message[2]
                    if message[0] == "end":
                        return
            finally:
                if not call.over and self._child is child and child.process.is_alive():
                    self._drain(child, call)
                call.done = True
                self._active = None

    def _drain(self, child: _Child, call: _Call) -> None:
        """The caller stopped reading a stream: the child stops it and its last messages are read."""
        self._cancel(child, call, -1)
        with contextlib.suppress(HearthError, Cancelled):
            while not call.over:
                self._receive(child, call)


_PROXY_NAMES = frozenset(
    {n for n in vars(EngineProcess) if not n.startswith("_")} | {"model", "baseline_rss"}
)
