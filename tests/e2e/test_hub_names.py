"""The pure parts of the Hub browser: quant labels and their order, split models, repository
references, and which file names are safe to write. No network."""

from __future__ import annotations

import pytest

from desktop_app.core.errors import HearthError
from desktop_app.core.hub import client as hub_client
from desktop_app.core.hub import downloads
from desktop_app.core.hub.client import HubFile
from desktop_app.core.models import files as model_files


@pytest.mark.parametrize(
    ("filename", "quant"),
    [
        ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("smollm2-135m-instruct.q4_k_m.gguf", "Q4_K_M"),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
        ("gemma-3-270m-it-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
        ("Qwen2.5-7B-Instruct-IQ3_XXS.gguf", "IQ3_XXS"),
        ("phi-4-IQ4_NL.gguf", "IQ4_NL"),
        ("model-bf16.gguf", "BF16"),
        ("model-F16.gguf", "F16"),
        ("ggml-model-q8_0.gguf", "Q8_0"),
        ("Q2-chat-7B-Q6_K.gguf", "Q6_K"),  # the last label wins over one in the model's name
        ("Q4_K_M/Big-Model-Q4_K_M-00001-of-00003.gguf", "Q4_K_M"),
        ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
        ("no-label-here.gguf", ""),
    ],
)
def test_quant_is_parsed_from_the_file_name(filename: str, quant: str) -> None:
    assert hub_client.parse_quant(filename) == quant


def test_quants_sort_smallest_first() -> None:
    labels = ["Q8_0", "F16", "Q4_K_M", "IQ2_XXS", "Q2_K", "BF16", "Q6_K", "IQ4_XS", "Q4_K_S", "Q3_K_L", "UD-Q4_K_XL"]
    ordered = sorted(labels, key=hub_client.quant_sort_key)
    assert ordered == [
        "IQ2_XXS",
        "Q2_K",
        "Q3_K_L",
        "IQ4_XS",
        "Q4_K_S",
        "Q4_K_M",
        "UD-Q4_K_XL",
        "Q6_K",
        "Q8_0",
        "F16",
        "BF16",
    ]
    # An unknown label sits with its bit width, not at the end.
    assert (
        hub_client.quant_sort_key("Q4_K_M")[0]
        < hub_client.quant_sort_key("Q4_K_ZZ")[0]
        < hub_client.quant_sort_key("Q5_0")[0]
    )


def test_split_parts_become_one_model_with_the_summed_size() -> None:
    files = [
        HubFile("Big-Q8_0-00002-of-00003.gguf", 200, "b" * 64),
        HubFile("Big-Q8_0-00001-of-00003.gguf", 100, "a" * 64),
        HubFile("Big-Q8_0-00003-of-00003.gguf", 50, "c" * 64),
        HubFile("Big-Q4_K_M.gguf", 120, "d" * 64),
        HubFile("Broken-Q5_0-00001-of-00002.gguf", 10, "e" * 64),  # its part 2 is missing: left out
    ]
    models = hub_client.group_files(files)
    assert [m.name for m in models] == ["Big-Q4_K_M.gguf", "Big-Q8_0.gguf"]
    split = models[1]
    assert split.is_split
    assert split.size == 350
    assert [p.path for p in split.parts] == [f"Big-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    assert split.quant == "Q8_0"


def test_a_page_finds_models_by_file_split_name_or_quant() -> None:
    page = hub_client.RepoPage(
        "o/r",
        "0" * 40,
        models=hub_client.group_files(
            [
                HubFile("m-Q4_K_M.gguf", 1, ""),
                HubFile("m-Q8_0-00001-of-00002.gguf", 1, ""),
                HubFile("m-Q8_0-00002-of-00002.gguf", 1, ""),
            ]
        ),
    )
    assert page.find("m-Q4_K_M.gguf").quant == "Q4_K_M"
    assert page.find("q8_0").name == "m-Q8_0.gguf"
    assert page.find("m-Q8_0-00002-of-00002.gguf").name == "m-Q8_0.gguf"
    assert [g.quant for g in page.groups] == ["Q4_K_M", "Q8_0"]
    with pytest.raises(HearthError, match="no GGUF file"):
        page.find("Q2_K")


@pytest.mark.parametrize(
    ("text", "repo_id"),
    [
        ("bartowski/Llama-3.2-1B-Instruct-GGUF", "bartowski/Llama-3.2-1B-Instruct-GGUF"),
        ("https://huggingface.co/unsloth/gemma-3-270m-it-GGUF", "unsloth/gemma-3-270m-it-GGUF"),
        ("https://huggingface.co/unsloth/gemma-3-270m-it-GGUF/tree/main", "unsloth/gemma-3-270m-it-GGUF"),
        ("huggingface.co/o/r/blob/main/x-Q4_0.gguf?download=true", "o/r"),
        ("https://hf.co/o/r", "o/r"),
        ("https://huggingface.co/models/o/r", "o/r"),
        ("llama 3", None),
        ("gemma", None),
        ("https://example.com/o/r", None),
        ("https://huggingface.co/datasets/o/r", None),
        ("../etc", None),
    ],
)
def test_repo_ids_and_hub_addresses_are_recognised(text: str, repo_id: str | None) -> None:
    assert hub_client.parse_repo_ref(text) == repo_id


@pytest.mark.parametrize(
    "name",
    [
        "../../evil.gguf",
        "sub/../../evil.gguf",
        "/etc/passwd.gguf",
        "~/x.gguf",
        "C:/Windows/x.gguf",
        "c:x.gguf",
        "dir\\x.gguf",
        "a//b.gguf",
        "./x.gguf",
        "x.gguf ",
        "CON.gguf",
        "bad\x00name.gguf",
        "line\nbreak.gguf",
        "stream:alt.gguf",
        "",
    ],
)
def test_hostile_file_names_are_refused(name: str) -> None:
    assert model_files.unsafe_reason(name)
    with pytest.raises(HearthError, match="Refused"):
        model_files.safe_relative_path(name)


@pytest.mark.parametrize("name", ["model-Q4_K_M.gguf", "Q4_K_M/model-Q4_K_M-00001-of-00002.gguf", "a.b-c_d.gguf"])
def test_names_in_the_repository_layout_are_accepted(name: str) -> None:
    assert model_files.unsafe_reason(name) == ""
    assert model_files.safe_relative_path(name).as_posix() == name


def test_destinations_stay_inside_the_models_folder() -> None:
    from desktop_app.core import paths

    dest = downloads.hearth_destination("owner/repo", "sub/x-Q4_0.gguf")
    assert dest == paths.models_dir() / "owner" / "repo" / "sub" / "x-Q4_0.gguf"
    for repo_id in ("../x", "owner/..", "a/b/c", "owner"):
        with pytest.raises(HearthError):
            downloads.hearth_destination(repo_id, "x.gguf")
