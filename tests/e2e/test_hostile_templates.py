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


def with_template(source: Path, output: Path, template: str) -> Path:
    """A copy of the GGUF at ``source`` whose chat template is ``template`` (tensors as they are)."""
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    reader = GGUFReader(source)
    writer = GGUFWriter(output, str(reader.fields["general.architecture"].contents()))
    for kv in reader.fields.values():
        if kv.name.startswith("GGUF.") or kv.name == "general.architecture":
            continue
        vtype = kv.types[0]
        sub_type = kv.types[-1] if vtype == GGUFValueType.ARRAY and len(kv.types) > 1 else None
        value = template if kv.name == "tokenizer.chat_template" else kv.contents()
        writer.add_key_value(kv.name, value, vtype, sub_type=sub_type)
    for tensor in reader.tensors:
        data = tensor.data
        writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data)
    writer.close()
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
def test_every_hostile_template_stops_within_its_limits(name: str) -> None:
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
