"""Helpers of the quantisation-lab tests.

:func:`dequantize_to_f16` turns a quantised GGUF back into an F16 one with the
``gguf`` package. The result is a valid F16 model whose weights equal the quantised ones (no
information comes back), which is what the tests need: a real high-precision file
to quantise from, and a reference that the variants made from it must lose against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter, LlamaFileType
from gguf.quants import dequantize

from desktop_app.core.cancel import Progress
from desktop_app.core.quantlab.results import CompareSettings

_KEEP = {GGMLQuantizationType.F32, GGMLQuantizationType.F16}


def dequantize_to_f16(source: Path, output: Path) -> Path:
    reader = GGUFReader(source)
    arch = str(reader.fields["general.architecture"].contents())
    writer = GGUFWriter(output, arch)
    for kv in reader.fields.values():
        if kv.name.startswith("GGUF.") or kv.name in ("general.architecture", "general.file_type"):
            continue
        vtype = kv.types[0]
        sub_type = kv.types[-1] if vtype == GGUFValueType.ARRAY and len(kv.types) > 1 else None
        writer.add_key_value(kv.name, kv.contents(), vtype, sub_type=sub_type)
    writer.add_file_type(LlamaFileType.MOSTLY_F16)
    for tensor in reader.tensors:
        qtype = GGMLQuantizationType(tensor.tensor_type)
        data = np.asarray(tensor.data) if qtype in _KEEP else dequantize(tensor.data, qtype)
        data = data.astype(np.float16 if len(tensor.shape) >= 2 else np.float32)
        writer.add_tensor(tensor.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return output


@dataclass
class Variants:
    f16: Path
    q8_0: Path
    q4_0: Path
    q4_0_progress: list[Progress] = field(default_factory=list)


def fast_settings(**changes: object) -> CompareSettings:
    """Small enough for two shared cores: two windows of 96 tokens, a few
    tokens of speed test in one round, answers of 8 tokens."""
    settings = CompareSettings(
        tokens=192, window=96, n_ctx=512, speed_prompt_tokens=48, speed_gen_tokens=8, speed_rounds=1
    )
    for key, value in changes.items():
        setattr(settings, key, value)
    settings.sampling.max_tokens = 8
    settings.sampling.seed = 1234
    return settings
