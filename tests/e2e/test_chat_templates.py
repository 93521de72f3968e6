"""The chat template in use, with the real Gemma 3 base model (no template in its file)."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.conversations.chat import make_provenance
from desktop_app.core.inference import templates
from desktop_app.core.inference.engine import Engine, Message
from desktop_app.core.settings import LoadSettings, SamplingSettings

FOREIGN = ("<|im_start|>", "<|im_end|>", "<start_of_turn>", "<end_of_turn>", "[INST]", "<|eot_id|>")


def test_the_gemma_base_model_continues_text_and_says_so(gemma_path: Path) -> None:
    engine = Engine()
    model = engine.load(gemma_path, LoadSettings(n_ctx=512, n_gpu_layers=0))
    try:
        assert model.template.continuation
        assert templates.BASE_MODEL_NOTICE in model.notes
        sampling = SamplingSettings(max_tokens=24, temperature=0.0, seed=3)
        reply = engine.generate([Message("user", "The three primary colours are")], sampling)
        assert reply.text.strip() and not any(tag in reply.text for tag in FOREIGN)
        provenance = make_provenance(model, "0" * 64, sampling, "", reply)
        assert provenance.settings["template"]["description"] == "none: text continuation"
        assert provenance.template_description == "none: text continuation"

        chosen = engine.set_template("gemma")
        assert engine.model is not None and engine.model.template == chosen
        assert templates.BASE_MODEL_NOTICE not in engine.model.notes
        prompt = engine.render([Message("user", "Name a colour.")])
        assert prompt.startswith("<start_of_turn>user\n")
        assert engine.tokenize_chat([Message("user", "Hi")])[0] == engine._require().token_bos()  # BOS added once
        reply = engine.generate([Message("user", "Name a colour.")], SamplingSettings(max_tokens=24, seed=3))
        assert "<end_of_turn>" not in reply.text and "<start_of_turn>" not in reply.text
        assert make_provenance(engine.model, "", sampling, "", reply).settings["template"]["name"] == "gemma"
    finally:
        engine.unload()


def test_a_model_with_its_own_template_records_its_sha256(smollm2_path: Path) -> None:
    import hashlib

    from desktop_app.core.models import gguf_meta

    engine = Engine()
    model = engine.load(smollm2_path, LoadSettings(n_ctx=512, n_gpu_layers=0))
    try:
        text = gguf_meta.read_local(smollm2_path).chat_template or ""
        assert model.template.source == "file"
        assert model.template.sha256 == hashlib.sha256(text.encode()).hexdigest()
        assert not any(n == templates.BASE_MODEL_NOTICE for n in model.notes)
    finally:
        engine.unload()
