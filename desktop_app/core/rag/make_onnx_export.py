"""Makes the ONNX exports an installer ships: ``python -m desktop_app.core.rag.make_onnx_export OUT [--int8]``.

Apart from embed_onnx.py so that module need not know the embedder (which uses it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from desktop_app.core.rag.embed_onnx import ensure_export
from desktop_app.core.rag.embedder import DEFAULT_MODEL, expected_model_id, resolve_model


def main(argv: list[str] | None = None) -> int:
    """Makes the exports an installer ships: ``python -m desktop_app.core.rag.make_onnx_export OUT [--int8]``."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", type=Path, help="the folder to write the exports in (e.g. the build's hearth-onnx/)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--int8", action="store_true", help="also the int8 variant")
    args = parser.parse_args(argv)
    os.environ["HEARTH_ONNX_CACHE"] = str(args.out)
    model_id = expected_model_id(args.model)
    for precision in ("fp32", "int8") if args.int8 else ("fp32",):
        print(ensure_export(resolve_model(args.model), model_id, precision))  # noqa: T201 - a build tool's output
    return 0


if __name__ == "__main__":
    sys.exit(main())
