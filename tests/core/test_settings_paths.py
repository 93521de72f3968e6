from __future__ import annotations

import json
from pathlib import Path

from desktop_app.core import paths, settings


def test_home_honours_override(hearth_home: Path) -> None:
    assert paths.home() == hearth_home
    assert paths.models_dir() == hearth_home / "models"
    assert paths.models_dir().is_dir()


def test_settings_persist() -> None:
    s = settings.load()
    assert s.sampling.temperature == settings.SamplingSettings().temperature
    s.sampling.temperature = 0.2
    s.load.n_ctx = 8192
    s.system_prompt = "Be brief."
    s.extra_model_paths.append("/models/x.gguf")
    settings.save(s)
    again = settings.load()
    assert again == s


def test_bad_or_partial_settings_file_falls_back_to_defaults() -> None:
    paths.settings_path().write_text("{not json")
    assert settings.load() == settings.Settings()
    paths.settings_path().write_text(json.dumps({"sampling": {"temperature": "hot", "top_k": 7}, "unknown": 1}))
    loaded = settings.load()
    assert loaded.sampling.top_k == 7
    assert loaded.sampling.temperature == settings.SamplingSettings().temperature
