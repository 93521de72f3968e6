"""The methods text's parts that need no model: whether data left the computer (a server on
loopback counts as this computer), and the citation, which must agree with CITATION.cff."""

from __future__ import annotations

import re
from pathlib import Path

from desktop_app.core.runs import methods

ROOT = Path(__file__).resolve().parents[3]


def test_a_server_on_this_computer_keeps_the_data_here_and_another_does_not() -> None:
    local = {"kind": "local", "name": "m", "sha256": "ab" * 32, "quant": "Q4_1", "llama_cpp_version": "0.3.36"}
    words, here = methods._model_words(local)
    assert here and "sha256 `" + "ab" * 32 + "`" in words and "Q4_1 quantisation" in words and "0.3.36" in words
    assert "licence not stated" in words  # no file at the recorded path: unknown, said so
    for url, expected in (("http://127.0.0.1:8080/v1", True), ("http://localhost:9000", True),
                          ("https://api.example.org/v1", False)):  # fmt: skip
        words, here = methods._model_words({"kind": "remote", "name": "m", "url": url, "model_id": "x"})
        assert here is expected and url in words


def test_the_bibtex_entry_and_citation_cff_agree() -> None:
    cff = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    fields = dict(re.findall(r'^(title|version|license): "?(.*?)"?$', cff, re.MULTILINE))
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "(.+)"$', pyproject, re.MULTILINE).group(1)  # type: ignore[union-attr]
    entry = methods.bibtex(version)
    assert fields["version"] == version and f"version = {{{version}}}" in entry
    assert fields["license"] == methods.LICENSE and f"license = {{{methods.LICENSE}}}" in entry
    assert f"title = {{{fields['title']}}}" in entry
    assert f'name: "{methods.AUTHORS}"' in cff and f"author = {{{{{methods.AUTHORS}}}}}" in entry
