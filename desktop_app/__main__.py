"""`python -m desktop_app` / `hearth`: the window, or a CLI subcommand."""

from __future__ import annotations

import sys
import time

# Taken first, so --smoke can report the time from process start to the window shown.
PROCESS_START = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # the quantisation lab measures in child processes, also when frozen
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--calibration-probe":  # probe.measure's child process (also when frozen)
        from desktop_app.core.inference.probe import probe

        return probe(args[1:])
    if not args or args[0] == "--smoke":
        from desktop_app.ui.app import run_gui

        return run_gui(args, PROCESS_START)
    from desktop_app.cli import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
