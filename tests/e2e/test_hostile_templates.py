"""Chat templates from GGUF files are programs from outside. A copy of SmolLM2 whose
``tokenizer.chat_template`` is hostile (written with the ``gguf`` package) loads without
computing anything, and rendering it stops with a plain error naming the template: a string
of 10**8 characters, loops nested without end, a string doubled until memory runs out. A real
template still renders, and the limits hold for any Jinja2ChatFormatter in the process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.inference import templates
from desktop_app.core.inference.engine import Engine, Message
from desktop_app.core.settings import LoadSettings

HOSTILE = {
    "huge string": "{{ 'x' * 10**8 }}{% for m in messages %}{{ m['content'] }}{% endfor %}",
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x",
    "doubling": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "padding": "{{ messages[0]['content']|center(2000000000) }}",
    "concatenation": "{% set s = 'x' * 15000000 %}{{ s ~ s ~ s }}",
    "format width": "{{ '{:>999999999}'.format(1) }}{{ '%999999999s' % 'x' }}",
    "joined list": "{% set s = 'x' * 15000000 %}{{ ([s] * 100)|join }}",
    "replace": "{% set s = 'x' * 100000 %}{{ s.replace('x', s) }}",
    "list growth": "{{ (messages * 20000000)|length }}",
}


_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value types


def with_template(source: Path, output: Path, template: str) -> Path:
    """A copy of the GGUF at ``source`` whose chat template is ``template``: the header walked as
    the GGUF format lays it out, the key-value entry rewritten, the tensor data copied as it is
    (the ``gguf`` package's reader takes seconds on a 49k-token vocabulary)."""
    import shutil
    import struct

    with source.open("rb") as src:
        head = src.read(64 * 1024 * 1024)
    n_tensors, n_kv = struct.unpack_from("<QQ", head, 8)
    at, span, alignment = 24, (0, 0), 32

    def string(pos: int) -> tuple[bytes, int]:
        (length,) = struct.unpack_from("<Q", head, pos)
        return head[pos + 8 : pos + 8 + length], pos + 8 + length

    def skip(kind: int, pos: int) -> int:
        if kind == 8:
            return string(pos)[1]
        if kind == 9:
            item, count = struct.unpack_from("<IQ", head, pos)
            pos += 12
            if item != 8 and item != 9:
                return pos + _SIZES[item] * count
            for _ in range(count):
                pos = skip(item, pos)
            return pos
        return pos + _SIZES[kind]

    for _ in range(n_kv):
        entry = at
        key, at = string(at)
        (kind,) = struct.unpack_from("<I", head, at)
        if key == b"general.alignment":
            (alignment,) = struct.unpack_from("<I", head, at + 4)
        at = skip(kind, at + 4)
        if key == b"tokenizer.chat_template":
            span = (entry, at)
    for _ in range(n_tensors):
        _name, at = string(at)
        (dims,) = struct.unpack_from("<I", head, at)
        at += 4 + 8 * dims + 4 + 8
    data_start = at + (-at % alignment)
    key, value = b"tokenizer.chat_template", template.encode("utf-8")
    entry_bytes = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, len(value)) + value
    with source.open("rb") as src, output.open("wb") as out:
        out.write(head[: span[0]] + entry_bytes + head[span[1] : at])
        out.write(b"\0" * (-out.tell() % alignment))  # tensor data starts aligned
        src.seek(data_start)
        shutil.copyfileobj(src, out, 16 * 1024 * 1024)
    return output


@pytest.fixture(scope="module")
def hostile_model(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-template")
    return with_template(smollm2_path, folder / "hostile.gguf", HOSTILE["huge string"])


def test_a_hostile_template_in_a_gguf_is_stopped_with_a_plain_error(hostile_model: Path) -> None:
    engine = Engine()
    started = time.monotonic()
    model = engine.load(hostile_model, LoadSettings(n_ctx=512, n_threads=2, n_gpu_layers=0))
    try:
        assert model.template.name == "file"
        with pytest.raises(HearthError) as caught:
            engine.render([Message("user", "Hello")])
        assert isinstance(caught.value, templates.TemplateLimitError)
        assert "chat template in the model file" in caught.value.message
        assert model.template.sha256[:12] in caught.value.message
        assert "20,000,000 characters" in caught.value.message and caught.value.hint
        assert time.monotonic() - started < 60  # nothing of 10**8 was built at load or render
    finally:
        engine.unload()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_every_hostile_template_stops_within_its_limits(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templates, "RENDER_SECONDS", 0.5)  # the clock works the same at 3 s; the suite stays fast
    chosen = templates.ChatTemplate("file", "file", "0123456789abcdef" * 4, HOSTILE[name])
    renderer = templates.Renderer(chosen, "<s>", "</s>")
    started = time.monotonic()
    with pytest.raises(templates.TemplateLimitError) as caught:
        renderer.render([("user", "Hello")])
    assert time.monotonic() - started < templates.RENDER_SECONDS + 5
    assert "0123456789ab" in caught.value.message
    assert ("ran for more than" in caught.value.message) == (name == "nested loops")


def test_a_real_template_renders_and_any_formatter_is_limited(smollm2_path: Path) -> None:
    from desktop_app.core.models import gguf_meta

    real = gguf_meta.read_local(smollm2_path).chat_template or ""
    chosen = templates.ChatTemplate("file", "file", "f" * 64, real)
    prompt = templates.Renderer(chosen, "", "<|im_end|>").render([("system", "Be brief."), ("user", "Hi there")])
    assert "<|im_start|>user\nHi there<|im_end|>" in prompt
    templates.install_template_limits()
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter  # as the tool prompt builds one

    formatter = Jinja2ChatFormatter(template=HOSTILE["doubling"], eos_token="", bos_token="")
    with pytest.raises(templates.TemplateLimitError):
        formatter(messages=[{"role": "user", "content": "Hi"}])
    from desktop_app.core.inference import tool_prompt

    with_tools = templates.ChatTemplate("file", "file", "e" * 64, "{{ tools|length }}" + HOSTILE["huge string"])
    with pytest.raises(HearthError, match="larger than 20,000,000 characters"):
        tool_prompt.render(with_tools, "", "", [{"role": "user", "content": "Hi"}], [{"type": "function"}])
