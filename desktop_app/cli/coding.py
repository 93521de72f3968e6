"""`hearth runs codes …`, `agreement`, `review`, `adjudicate`, `codebook`: human coding of a
run's rows and how well the raters (the model among them) agree.

Registered under `hearth runs` by desktop_app/cli/runs.py.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_app.cli.output import print_json
from desktop_app.core.errors import HearthError
from desktop_app.core.runs.coding import Codebook, CodeStore, agreement, scale_codebook
from desktop_app.core.runs.storage import RunStore
from desktop_app.core.units import plural

if TYPE_CHECKING:  # the statistics import numpy: loaded when a report is made
    from desktop_app.core.runs.agreement import AgreementEstimate

LEVELS = ("nominal", "ordinal", "interval")


def register(rsub: Any) -> None:
    codes = rsub.add_parser("codes", help="human codes of a run's rows: import, set, list")
    csub = codes.add_subparsers(dest="codes_command", metavar="ACTION")
    codes.set_defaults(func=lambda _args: (codes.print_help(), 1)[1])

    p = csub.add_parser("import", help="a coder's codes from a column of a CSV, TSV, JSONL or XLSX file")
    p.add_argument("run_id", type=int)
    p.add_argument("file", type=Path)
    p.add_argument("--coder", required=True, help="the coder's name")
    p.add_argument("--column", required=True, help="the column holding the codes (an empty cell: no code)")
    p.add_argument("--id-column", help="the column naming each row as the run does (default: 'id' if there is one)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    p = csub.add_parser("set", help="one code: a row (by its id) coded by a coder")
    p.add_argument("run_id", type=int)
    p.add_argument("row", help="the row's id, as `hearth runs show` lists it")
    p.add_argument("code", help="a label of the codebook ('' takes the code back)")
    p.add_argument("--coder", required=True)
    p.add_argument("--note", default=None)
    p.set_defaults(func=cmd_set)

    p = csub.add_parser("list", help="every code of the run, row by row")
    p.add_argument("run_id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = rsub.add_parser("codebook", help="a run's codebook: show it, or set it from a JSON file")
    p.add_argument("run_id", type=int)
    p.add_argument("--set", dest="set_file", type=Path, help='JSON: {"kind": "labels", "labels": [{"name": …, '
                   '"definition": …, "example": …}]}; kind is labels, scale or pass_fail')  # fmt: skip
    p.add_argument("--scale", help="a rating scale instead, LOW-HIGH (e.g. 1-5): keys 1-9 pick a point")
    p.add_argument("--pass-fail", action="store_true", help="pass or fail instead")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_codebook)

    p = rsub.add_parser("agreement", help="agreement of the model and the coders: κ, α, with 95% intervals")
    p.add_argument("run_id", type=int)
    p.add_argument(
        "--level", choices=LEVELS, default=None, help="how codes differ (default: ordinal for a scale, else nominal)"
    )
    p.add_argument("--samples", type=int, default=None, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=None, help="the bootstrap's seed (default 0)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_agreement)

    p = rsub.add_parser("review", help="rows where the raters disagree, with any code decided")
    p.add_argument("run_id", type=int)
    p.add_argument("--open", action="store_true", help="only the rows not decided yet")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_review)

    p = rsub.add_parser("adjudicate", help="decide a disputed row's code: it becomes the reference")
    p.add_argument("run_id", type=int)
    p.add_argument("row", help="the row's id, as `hearth runs review` lists it")
    p.add_argument("label", help="the code decided ('' takes the decision back)")
    p.add_argument("--note", default="")
    p.add_argument("--by", default="", help="who decided")
    p.set_defaults(func=cmd_adjudicate)


@contextmanager
def _stores() -> Iterator[tuple[RunStore, CodeStore]]:
    """The runs and their codes, on one connection closed at the end."""
    with RunStore() as runs:
        yield runs, CodeStore(runs)


def row_index(store: RunStore, run_id: int, row: str) -> int:
    """A row named by its id (what the lists show), else by its index."""
    store.get(run_id)
    found = store.db.execute("SELECT idx FROM run_rows WHERE run_id = ? AND row_key = ?", (run_id, row)).fetchone()
    if found is not None:
        return int(found[0])
    if row.lstrip("#").isdigit() and store.row(run_id, int(row.lstrip("#"))) is not None:
        return int(row.lstrip("#"))
    raise HearthError(f"Run {run_id} has no row “{row}”.", f"`hearth runs show {run_id}` lists its rows.")


def cmd_import(args: argparse.Namespace) -> int:
    with _stores() as (_runs, codes):
        report = codes.import_column(args.run_id, args.file.expanduser(), args.coder, args.column, args.id_column)
    if args.json:
        print_json(report.to_dict())
        return 0
    print(f"Imported {plural(report.coded, 'code')} for {report.coder}; {plural(report.missing, 'row')} without one.")
    if report.unmatched_count:
        shown = ", ".join(report.unmatched)
        print(f"{plural(report.unmatched_count, 'row')} of the file name no row of the run: {shown}")
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    with _stores() as (runs, codes):
        index = row_index(runs, args.run_id, args.row)
        code = args.code.strip() or None
        if code is not None and code not in codes.codebook(args.run_id).names:
            allowed = ", ".join(codes.codebook(args.run_id).names)
            raise HearthError(f"“{code}” is not in the run's codebook.", f"Choose one of: {allowed}.")
        codes.set_code(args.run_id, index, args.coder, code)
        if args.note is not None:
            codes.set_note(args.run_id, index, args.coder, args.note)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with _stores() as (_runs, codes):
        document = codes.to_document(args.run_id)
    if args.json:
        print_json(document)
        return 0
    for item in document["codes"]:
        code = item["code"] if item["code"] is not None else ("(skipped)" if item["skipped"] else "—")
        note = f"  — {item['note']}" if item["note"] else ""
        print(f"row {item['index']:>6}  {item['coder']:<20} {code}{note}")
    for item in document["adjudications"]:
        print(f"row {item['index']:>6}  decided: {item['code']}")
    return 0


def cmd_codebook(args: argparse.Namespace) -> int:
    with _stores() as (_runs, codes):
        if args.set_file:
            try:
                data = json.loads(args.set_file.expanduser().read_text(encoding="utf-8"))
            except OSError as exc:
                raise HearthError(f"Cannot read “{args.set_file}”: {exc.strerror or exc}.") from None
            except ValueError as exc:
                raise HearthError(f"“{args.set_file.name}” is not valid JSON ({exc}).") from None
            codes.set_codebook(args.run_id, Codebook.from_dict(data))
        elif args.scale:
            low, _sep, high = args.scale.partition("-")
            if not (low.strip().isdigit() and high.strip().isdigit() and 0 <= int(low) < int(high) <= int(low) + 20):
                raise HearthError(f"“{args.scale}” is not a scale.", "Write it as LOW-HIGH, for example 1-5.")
            codes.set_codebook(args.run_id, scale_codebook(int(low), int(high)))
        elif args.pass_fail:
            codes.set_codebook(args.run_id, Codebook.from_dict({"kind": "pass_fail"}))
        book = codes.codebook(args.run_id)
    if args.json:
        print_json(book.to_dict())
        return 0
    print(f"Codebook ({book.kind.replace('_', '/')}):")
    for key, label in enumerate(book.labels, 1):
        print(f"  {key}. {label.name}" + (f" — {label.definition}" if label.definition else ""))
        if label.example:
            print(f"       e.g. {label.example}")
    return 0


def _estimate(value: AgreementEstimate, percent: bool = False) -> str:
    if value.value is None:
        return "—"
    fmt = "{:.0%}" if percent else "{:.2f}"
    text = fmt.format(value.value)
    if value.ci_low is not None:
        text += f" ({fmt.format(value.ci_low)} to {fmt.format(value.ci_high)})"
    return text


def cmd_agreement(args: argparse.Namespace) -> int:
    from desktop_app.core.runs.agreement import reliable, strength

    with _stores() as (_runs, codes):
        report = agreement(codes, args.run_id, args.level, args.samples, args.seed)
    if args.json:
        print_json(report.to_dict())
        return 0
    if len(report.raters) < 2:
        print("Agreement needs two raters: code the rows (Runs › Code rows…) or import a coder's codes.")
        return 0
    print(f"Agreement on run {args.run_id} ({report.level} codes; 95% intervals from "
          f"{report.bootstrap.samples} resamples of the rows):")  # fmt: skip
    for pair in report.pairs:
        print(f"  {pair.a} and {pair.b}, {pair.n:,} rows both coded:")
        print(f"    agree on {_estimate(pair.percent, percent=True)}")
        print(f"    Cohen's kappa {_estimate(pair.cohen_kappa)}: {strength(pair.cohen_kappa.value)}")
        print(f"    Krippendorff's alpha {_estimate(pair.krippendorff_alpha)}: "
              f"{reliable(pair.krippendorff_alpha.value)}")  # fmt: skip
    group = report.coders
    if group:
        print(f"  All {len(group.raters)} coders together ({group.units:,} rows with two codes or more, "
              f"{group.complete:,} coded by all):")  # fmt: skip
        print(f"    Krippendorff's alpha {_estimate(group.krippendorff_alpha)}: "
              f"{reliable(group.krippendorff_alpha.value)}")  # fmt: skip
        print(f"    Fleiss' kappa {_estimate(group.fleiss_kappa)}: {strength(group.fleiss_kappa.value)}")
    reference = report.reference
    if reference and reference.n:
        print(f"  The model against the reference ({plural(reference.adjudicated, 'row')} decided by review): "
              f"{_estimate(reference.accuracy, percent=True)} right")  # fmt: skip
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    with _stores() as (_runs, codes):
        rows = codes.disagreements(args.run_id, include_decided=not args.open)
    if args.json:
        print_json([row.to_dict() for row in rows])
        return 0
    if not rows:
        print("No disagreements to review.")
    for row in rows:
        given = ", ".join(f"{name}: {code if code is not None else '—'}" for name, code in row.codes.items())
        decided = f"  → decided: {row.adjudicated}" if row.adjudicated is not None else ""
        print(f"row {row.key:>8}  {given}{decided}")
    return 0


def cmd_adjudicate(args: argparse.Namespace) -> int:
    with _stores() as (runs, codes):
        index = row_index(runs, args.run_id, args.row)
        if not args.label.strip():
            codes.clear_adjudication(args.run_id, index)
            print(f"Row {args.row}: the decision is taken back.")
        else:
            codes.adjudicate(args.run_id, index, args.label, args.note, args.by)
            print(f"Row {args.row}: decided “{args.label.strip()}” (the coders' own codes are kept).")
    return 0
