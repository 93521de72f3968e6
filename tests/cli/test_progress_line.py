"""The one progress line every command prints on stderr: in place on a terminal, whole lines in a
log. A terminal cannot exist in a test, so the stream says it is one (``isatty``)."""

from __future__ import annotations

import io

from desktop_app.cli.output import ProgressLine, bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_line_is_rewritten_in_place_and_ended_once() -> None:
    out = Terminal()
    line = ProgressLine(lambda n, _tty: f"{n}/3 rows", lambda n: n >= 3, tty_every=0.0, pad=10, stream=out)
    for n in (1, 2, 3):
        line(n)
    line.close()  # already ended by the last update: nothing more
    assert out.getvalue() == "\r1/3 rows  \r2/3 rows  \r3/3 rows  \n"


def test_a_log_gets_a_line_per_tenth_of_the_way_and_the_last_one() -> None:
    out = io.StringIO()
    line = ProgressLine(lambda f, _tty: f"{f:.0%}", lambda f: f >= 1.0, fraction=lambda f: f, by_tenths=True,
                        stream=out)  # fmt: skip
    for step in range(101):
        line(step / 100)
    assert out.getvalue().splitlines() == [f"{t * 10}%" for t in range(11)]
    left_open = Terminal()
    shown = ProgressLine(lambda f, _tty: f"[{bar(f, 4)}]", lambda f: f >= 1.0, end_line_when_final=False,
                         stream=left_open)  # fmt: skip
    shown(0.5)
    shown(1.0)
    shown.close()  # the bar stays until the command ends it
    assert left_open.getvalue() == "\r[##--]\r[####]\n"


def test_a_new_phase_always_shows_even_between_two_lines() -> None:
    """A step that starts and ends within the interval (preparing the embedding model, say) is
    still said once, on a terminal and in a log."""
    for out in (Terminal(), io.StringIO()):
        line = ProgressLine(lambda p, _tty: f"{p[0]} {p[1]}", lambda p: p[0] == "done", phase=lambda p: p[0],
                            tty_every=3600, log_every=3600, stream=out)  # fmt: skip
        for update in [("scanning", 1), ("scanning", 2), ("preparing", 0), ("indexing", 1), ("indexing", 2),
                       ("done", 2)]:  # fmt: skip
            line(update)
        line.close()
        shown = out.getvalue().replace("\r", "\n").split()
        assert [w for w in shown if not w.isdigit()] == ["scanning", "preparing", "indexing", "done"]
