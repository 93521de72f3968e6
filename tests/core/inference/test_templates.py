"""Choosing a chat template from real model headers (nothing is loaded here)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from desktop_app.core.inference import templates
from desktop_app.core.inference.stop_text import StopText
from desktop_app.core.models import gguf_meta


def _without_template(info: gguf_meta.GGUFInfo, **metadata: object) -> gguf_meta.GGUFInfo:
    kept = {k: v for k, v in info.metadata.items() if k != "tokenizer.chat_template"}
    return dataclasses.replace(info, metadata={**kept, **metadata})


def test_a_file_with_its_own_template_uses_it(smollm2_path: Path) -> None:
    info = gguf_meta.read_local(smollm2_path)
    chosen = templates.choose(info, smollm2_path.name)
    assert chosen.source == "file" and chosen.name == "file"
    assert chosen.text == info.chat_template
    assert len(chosen.sha256) == 64
    assert "from the model file" in chosen.describe()


def test_the_gemma_base_model_is_recognised_and_continues_text(gemma_path: Path) -> None:
    info = gguf_meta.read_local(gemma_path)
    assert info.chat_template is None  # the test model really carries none
    assert templates.is_base_model(info, gemma_path.name)
    chosen = templates.choose(info, gemma_path.name)
    assert chosen.continuation and chosen.source == "continuation"
    assert chosen.to_dict()["description"] == "none: text continuation"


def test_an_instruction_tuned_file_without_a_template_gets_its_architectures_format(gemma_path: Path) -> None:
    info = _without_template(gguf_meta.read_local(gemma_path), **{"general.finetune": "it"})
    assert not templates.is_base_model(info, "gemma-3-270m-it-q4_k_m.gguf")
    chosen = templates.choose(info, "gemma-3-270m-it-q4_k_m.gguf")
    assert (chosen.name, chosen.source) == ("gemma", "architecture")
    renderer = templates.Renderer(chosen, "<bos>", "<eos>")
    prompt = renderer.render([("user", "Hello")])
    assert prompt.endswith("<start_of_turn>model\n") and "<|im_start|>" not in prompt
    assert renderer.stops == ["<end_of_turn>\n"]


@pytest.mark.parametrize(
    ("architecture", "pre", "expected"),
    [("qwen2", "qwen2", "chatml"), ("mistral", "default", "mistral-instruct"), ("llama", "llama-bpe", "llama-3"),
     ("llama", "default", "llama-2"), ("somethingnew", "default", "chatml")],
)  # fmt: skip
def test_architecture_formats(smollm2_path: Path, architecture: str, pre: str, expected: str) -> None:
    info = _without_template(
        gguf_meta.read_local(smollm2_path), **{"general.architecture": architecture, "tokenizer.ggml.pre": pre}
    )
    assert templates.for_architecture(info) == expected


def test_the_users_choice_wins_and_is_recorded_as_theirs(smollm2_path: Path) -> None:
    info = gguf_meta.read_local(smollm2_path)
    chosen = templates.choose(info, smollm2_path.name, "llama-3")
    assert (chosen.name, chosen.source) == ("llama-3", "user")
    none = templates.choose(info, smollm2_path.name, templates.CONTINUATION)
    assert none.continuation and none.source == "user"
    # An unknown stored name (a newer Hearth's, say) falls back to automatic.
    assert templates.choose(info, smollm2_path.name, "no-such-format").source == "file"


@pytest.mark.parametrize(
    ("name", "tuned"),
    [("Mistral-7B-Instruct-v0.3.Q4_K_M.gguf", True), ("gemma-2-9b-it-Q4_K_M.gguf", True),
     ("Llama-3.1-8B-Chat.gguf", True), ("Meta-Llama-3.1-8B.Q4_K_M.gguf", False), ("phi-2.Q8_0.gguf", False),
     ("Qwen2.5-7B.gguf", False), ("smollm-135m-sft.gguf", True)],
)  # fmt: skip
def test_instruction_tuning_is_read_from_the_name(gemma_path: Path, name: str, tuned: bool) -> None:
    info = _without_template(gguf_meta.read_local(gemma_path), **{"general.name": "", "general.tags": []})
    info = dataclasses.replace(info, metadata={k: v for k, v in info.metadata.items() if k != "general.basename"})
    assert templates.looks_tuned(info, name) is tuned


def test_stop_text_never_shows_a_stop_string_split_across_pieces() -> None:
    stops = StopText(["<end_of_turn>"])
    shown = []
    for piece in ["Blue", " is nice<end", "_of", "_turn>more"]:
        text, stopped = stops.feed(piece)
        shown.append(text)
        if stopped:
            break
    assert "".join(shown) == "Blue is nice" and stopped
    plain = StopText(["<end_of_turn>"])
    assert plain.feed("a <e")[0] == "a " and plain.flush() == "<e"  # held back, then released at the end
