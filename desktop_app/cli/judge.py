"""`hearth judge …`: a second model scores a run's answers against a rubric, or compares two runs.

- ``hearth judge RUN --model M --rubric FILE [--prompt @FILE] [--system @FILE]`` scores every
  answer of run RUN (``--show-prompt`` prints the judge's prompt to edit, and runs nothing);
- ``hearth judge pairwise RUN_A RUN_B --model M --rubric FILE`` asks about every pair in both
  orders and says how often the verdict flips;
- ``hearth judge validate JUDGE_RUN --coder NAME [--criterion C]`` checks the judge against a
  person's ratings of the judged run (rated in the coding screen, or imported with
  ``hearth runs codes import``; ``--prepare`` sets the run's codebook to the criterion's scale);
- ``hearth judge resume JUDGE_RUN`` continues a judge run that was stopped.

The judge is loaded after the judged runs are stored, so one model is in memory at a time.
Progress goes to stderr, results to stdout (``--json`` for scripts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from desktop_app.cli.output import print_json
from desktop_app.cli.runs import _load, _load_for, _release, _remote, _run_cancellable, _text_arg
from desktop_app.core import settings as settings_store
from desktop_app.core.errors import HearthError
from desktop_app.core.runs import judge, rubric
from desktop_app.core.runs.storage import RunStore

ACTIONS = ("pairwise", "validate", "resume")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "judge",
        help="a second model scores a run's answers against a rubric (or compares two runs; validate; resume)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="hearth judge RUN | pairwise RUN_A RUN_B | validate JUDGE_RUN | resume JUDGE_RUN [options]",
    )
    p.add_argument(
        "target", nargs="+", metavar="RUN", help="RUN, or: pairwise RUN_A RUN_B, validate JUDGE_RUN, resume JUDGE_RUN"
    )
    p.add_argument("--model", help="the judge: a .gguf path or a local model's name (with --server: its id there)")
    p.add_argument("--server", help="a server added in Settings › Servers: the judge runs there")
    p.add_argument("--rubric", type=Path, help="the rubric file (JSON, or one 'name | scale | meaning' a line)")
    p.add_argument("--prompt", help="the judge's prompt template (or @FILE); default: made from the rubric")
    p.add_argument("--system", help="the judge's system prompt (or @FILE)")
    p.add_argument("--show-prompt", action="store_true", help="print the judge's prompt and system prompt, run nothing")
    p.add_argument("--seed", type=int, default=judge.JUDGE_SEED)
    p.add_argument("--limit", type=int, default=None, help="judge only the first N answers (pairs)")
    p.add_argument("--ctx", type=int, default=None, help="the judge's context size")
    p.add_argument("--coder", help="validate: the person whose ratings the judge is checked against")
    p.add_argument("--criterion", help="validate: which of the rubric's criteria (default: the first)")
    p.add_argument("--prepare", action="store_true", help="validate: set the judged run's codebook to the scale")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_judge)


def _run_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise HearthError(f"“{text}” is not a run number.", "`hearth runs list` shows the runs there are.") from None


def _need(value: Any, option: str) -> Any:
    if value is None:
        raise HearthError(f"This needs {option}.", "See `hearth judge --help`.")
    return value


def _backend(args: argparse.Namespace) -> Any:
    from desktop_app.core.models import library

    config = settings_store.load()
    model = _need(args.model, "--model (the judge model)")
    if args.server:
        return _remote(config, args.server, model)
    path = library.resolve(model, config.extra_model_paths)
    load = config.load
    if args.ctx:
        load.n_ctx = args.ctx
    return _load(path, load, config.template_for(path))


def cmd_judge(args: argparse.Namespace) -> int:
    action, rest = args.target[0], args.target[1:]
    if action == "validate":
        return _validate(args, rest)
    if action == "resume":
        return _resume(args, rest)
    if action == "pairwise":
        if len(rest) != 2:
            raise HearthError("Pairwise judging compares two runs.", "hearth judge pairwise RUN_A RUN_B --model M …")
        runs = [_run_id(rest[0]), _run_id(rest[1])]
    else:
        if rest:
            raise HearthError(f"Unexpected: {' '.join(rest)}.", f"hearth judge RUN, or one of: {', '.join(ACTIONS)}.")
        runs = [_run_id(action)]
    chosen = rubric.load(_need(args.rubric, "--rubric FILE"))
    prompt = _text_arg(args.prompt) if args.prompt else None
    system = _text_arg(args.system) if args.system is not None else None
    with RunStore() as store:
        if len(runs) == 2:
            plan = judge.plan_pairwise(store, runs[0], runs[1], chosen, prompt, system, args.seed, args.limit)
        else:
            plan = judge.plan_judge(store, runs[0], chosen, prompt, system, args.seed, args.limit)
        if args.show_prompt:
            task = plan.plan.task
            if args.json:
                print_json({"system": task.system, "prompt": task.prompt, "grammar": plan.output_rubric.gbnf()})
            else:
                print(f"System prompt:\n{task.system}\n\nPrompt template:\n{task.prompt}")
            return 0
        backend = _backend(args)  # loaded only now: the plan is checked first
        print(f"Judging {plan.plan.n:,} rows…", file=sys.stderr)
        created: list[int] = []
        try:
            _run_cancellable(
                lambda cancel, progress: judge.start(plan, backend, store, progress, cancel, created.append)
            )
        except KeyboardInterrupt:
            if created:
                print(f"\nPaused. Continue with: hearth judge resume {created[0]}", file=sys.stderr)
            raise
        finally:
            _release(backend)
        _print_report(store, created[0], args.json)
    return 0


def _print_report(store: RunStore, run_id: int, as_json: bool) -> None:
    report = judge.report(store, run_id)
    if as_json:
        print_json(report.to_dict())
    else:
        print(report.describe())


def _resume(args: argparse.Namespace, rest: list[str]) -> int:
    if len(rest) != 1:
        raise HearthError("Resume which judge run?", "hearth judge resume JUDGE_RUN")
    run_id = _run_id(rest[0])
    with RunStore() as store:
        judge.judge_info(store, run_id)  # a judge run: refused here otherwise
        record = store.get(run_id)
        if record.resumable:
            backend = _load_for(store, run_id)
            try:
                _run_cancellable(lambda cancel, progress: judge.resume(run_id, backend, store, progress, cancel))
            finally:
                _release(backend)
        _print_report(store, run_id, args.json)
    return 0


def _validate(args: argparse.Namespace, rest: list[str]) -> int:
    from desktop_app.core.runs import judge_validation

    if len(rest) != 1:
        raise HearthError("Validate which judge run?", "hearth judge validate JUDGE_RUN --coder NAME")
    run_id = _run_id(rest[0])
    with RunStore() as store:
        if args.prepare:
            judged = judge_validation.prepare_coding(store, run_id, args.criterion)
            rows = judge_validation.sample_rows(store, run_id)
            print(
                f"Run {judged}'s codebook is the scale of the criterion. Rate these {len(rows):,} rows (drawn at "
                f"random) in Runs › Code rows…, or import a column with `hearth runs codes import {judged} …`:\n"
                + ", ".join(str(i) for i in rows)
            )
            if not args.coder:
                return 0
        result = judge_validation.validate(store, run_id, _need(args.coder, "--coder NAME"), args.criterion)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.describe())
    return 0
