"""GGUF files made for tests from the test models."""

from __future__ import annotations

from pathlib import Path

# 10^10 steps of Jinja: a chat template that never ends by itself.
LOOPING_TEMPLATE = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ 'x' }}"


def with_chat_template(source: Path, target: Path, template: str = LOOPING_TEMPLATE) -> Path:
    """A copy of ``source`` whose chat template is ``template`` (the rest unchanged)."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(source, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    assert arch is not None
    writer = gguf.GGUFWriter(target, arch=str(bytes(arch.parts[-1]), encoding="utf-8"), endianess=reader.endianess)
    new = {gguf.Keys.Tokenizer.CHAT_TEMPLATE: MetadataDetails(gguf.GGUFValueType.STRING, template)}
    copy_with_new_metadata(reader, writer, new, [])
    return target
