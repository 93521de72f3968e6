"""`hearth hardware`, `hearth models`: this computer and the models on it."""

from __future__ import annotations

import argparse
from typing import Any

from desktop_app.cli.output import print_json
from desktop_app.core import hardware, settings
from desktop_app.core.models import library
from desktop_app.core.units import human_bytes


def register(sub: Any) -> None:
    p = sub.add_parser("hardware", help="what this computer offers (RAM, CPU, GPUs, llama.cpp backend)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hardware)

    p = sub.add_parser("models", help="the local models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)


def cmd_hardware(args: argparse.Namespace) -> int:
    info = hardware.detect()
    if args.json:
        print_json(info.to_dict())
        return 0
    print(f"OS:       {info.os} ({info.machine})")
    print(f"RAM:      {human_bytes(info.ram_available)} free of {human_bytes(info.ram_total)}")
    print(
        f"CPU:      {info.cpu_physical_cores} cores ({info.cpu_logical_cores} threads); {' '.join(info.cpu_features)}"
    )
    print(f"llama.cpp {info.llama_cpp_version}, backend {info.backend}")
    for gpu in info.gpus:
        print(f"GPU:      {gpu.name}: {human_bytes(gpu.vram_free)} free of {human_bytes(gpu.vram_total)}")
    for note in info.notes:
        print(f"Note:     {note}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    config = settings.load()
    models = library.list_models(config.extra_model_paths)
    if args.json:
        print_json([m.to_dict() for m in models])
        return 0
    if not models:
        print("No local models yet.")
    for m in models:
        size = human_bytes(m.size_bytes)
        print(f"{m.name:40} {m.quant:8} {size:>9}  {m.architecture:10} ctx {m.context_length:>7,}  {m.path}")
    return 0
