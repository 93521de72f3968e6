"""What an indexing run did, in words, grouped: what was added, what could not be read, what was
ignored (naming its file types), and what was not reachable."""

from __future__ import annotations

import html
from pathlib import Path

from desktop_app.core.rag.index_report import IngestReport
from desktop_app.core.units import plural

NAMED_FILES = 3  # the files that could not be read, named in the report before "and N more"


def ignored_kinds(ignored: dict[str, int]) -> str:
    """ "“.png” ×2, “.zip”": the file types left out, the commonest first."""
    kinds = sorted(ignored.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"“{kind}”" + (f" ×{n:,}" if n > 1 else "") for kind, n in kinds)


def report_html(report: IngestReport, stopped: bool = False) -> str:
    lines = []
    if stopped:
        lines.append("<b>Stopped.</b> What was indexed is kept; “Update now” (or the next start) continues from there.")
    if report.indexed or report.removed or not report.unchanged:
        added = f"{plural(len(report.indexed), 'file')} indexed ({plural(report.chunks_added, 'passage')})"
        if report.unchanged:
            added += f", {report.unchanged:,} unchanged"
        if report.removed:
            added += f", {plural(len(report.removed), 'file')} removed"
        lines.append(f"<b>Added:</b> {added}.")
    else:
        lines.append(f"<b>Up to date:</b> {plural(report.unchanged, 'file')} unchanged.")
    if report.skipped:
        names = [Path(s.path).name for s in report.skipped]
        shown = ", ".join(f"“{html.escape(n)}”" for n in names[:NAMED_FILES])
        more = f" and {len(names) - NAMED_FILES:,} more" if len(names) > NAMED_FILES else ""
        lines.append(
            f"<b>Could not be read:</b> {plural(len(names), 'file')} ({shown}{more}): "
            "“Could not be read” below says why."
        )
    if report.no_text:  # photos, most likely: said quietly, apart from the files that could not be read
        were = "was" if len(report.no_text) == 1 else "were"
        lines.append(
            f"{plural(len(report.no_text), 'picture')} had no text in {'it' if were == 'was' else 'them'} "
            f"and {were} left out (“Files” lists them)."
        )
    if report.ignored:
        total = sum(report.ignored.values())
        types = "a type" if len(report.ignored) == 1 else "types"
        lines.append(
            f"<b>Ignored:</b> {plural(total, 'file')} of {types} Hearth does not read: "
            f"{html.escape(ignored_kinds(report.ignored))}."
        )
    if report.missing_sources:
        missing = ", ".join(html.escape(m) for m in report.missing_sources)
        lines.append(f"<b>Not reachable now</b> (kept as they were): {missing}.")
    return "<br>".join(lines)
