"""The claim check (core/rag/claims.py), measured on a small labelled set with the real
embedding model: every sentence that states something is checked against the sources,
cited or not, and numbers, days and names that no source has are caught."""

from __future__ import annotations

from typing import Any

import pytest

from desktop_app.core.rag import claims
from desktop_app.core.rag.embedder import DEFAULT_MODEL
from desktop_app.core.rag.retrieve import Hit

SOURCES = [
    "Liquid nitrogen. The liquid nitrogen tank in room 12 is refilled every 31 days by the supplier. "
    "Deliveries arrive on Thursdays before noon.",
    "Plasma separation. The centrifuge must run at 4,500 rpm for 12 minutes during the plasma separation step, "
    "at a temperature of 4 degrees.",
    "Funding. The grant from the Wexler Foundation covers 38,000 euros for reagents and consumables.",
    "Lab notes. Samples are stored at minus eighty degrees in freezer 3, rack C. The group meets on Tuesdays.",
    "Safety rules. Always wear goggles when handling acids. The fire extinguisher is next to room 204, "
    "beside the lift.",
    "Ethics approval. The ethics committee approved protocol 2291-B on 14 March 2024. Every participant signs the "
    "consent form before the first visit.",
    "The microscope booking system opens every Monday at 8 o'clock. Naïve users need training first.",
    "Le café du laboratoire coûte deux euros ; la machine à café est au deuxième étage, près de l'entrée.",
    "Aurora project overview. This report describes the blood sampling study run by the cardiology group in 2024, "
    "its participants and its schedule.",
]

# (sentence, supported by the sources?). Written for this test; the ones marked "specific" state a
# number, day or name that no source has: the check must catch every one of them.
LABELLED: list[tuple[str, bool]] = [
    ("The tank is refilled every 31 days.", True),
    ("The supplier refills the liquid nitrogen tank once every 31 days.", True),
    ("Plasma is separated by spinning the centrifuge at 4500 rpm for twelve minutes.", True),
    ("The Wexler Foundation pays for reagents and consumables.", True),
    ("The grant covers 38,000 euros.", True),
    ("Samples are kept at -80 degrees in freezer 3.", True),
    ("You will find the fire extinguisher beside the lift, next to room 204.", True),
    ("Goggles must be worn when working with acids.", True),
    ("The group meets every Tuesday.", True),
    ("Liquid nitrogen is delivered on Thursday mornings.", True),
    ("Reagents are funded by a grant.", True),
    ("Wear eye protection when you handle acid.", True),
    ("The ethics committee approved the protocol on March 14, 2024.", True),
    ("Protocol 2291-B was approved by the ethics committee in March 2024.", True),
    ("Participants sign a consent form before their first visit.", True),
    ("Bookings for the microscope open on Mondays at 8:00.", True),
    ("New users must be trained before using the microscope.", True),
    ("The coffee costs two euros.", True),  # the source is in French: a miss
    ("The Aurora project is a blood sampling study by the cardiology group.", True),
    ("The study took place in 2024.", True),
    ("The tank is refilled every 9 days.", False),
    ("The centrifuge must run at 9,000 rpm.", False),
    ("The grant covers 45,000 euros.", False),
    ("Samples are stored in freezer 7.", False),
    ("The fire extinguisher is next to room 310.", False),
    ("The group meets on Fridays.", False),
    ("The ethics committee approved the protocol on 2 June 2023.", False),
    ("Bookings open at 9 o'clock.", False),
    ("The study enrolled 120 participants.", False),
    ("Dr. Martin leads the Aurora project.", False),
    ("The Wexler Foundation was founded by a chemist in Basel.", False),
    ("The centrifuge must be cleaned with ethanol after every run.", False),
    ("The lab is closed on public holidays.", False),
    ("Gloves are required when handling liquid nitrogen.", False),
    ("The plasma is stored in the fridge overnight.", False),
    ("Acids must be kept in a locked cabinet.", False),
    ("The supplier also delivers dry ice.", False),
    ("The coffee machine is in the basement.", False),
    ("Participants sign the consent form after the first visit.", False),  # a contradiction in words: a miss
    ("The Aurora project is run by the neurology group.", False),  # likewise
]
SPECIFIC = 10  # the first ten unsupported sentences state a number, day or name no source has


def hits() -> list[Hit]:
    return [
        Hit(f"c{i}", text, f"/docs/f{i}.txt", f"f{i}.txt", "", None, None, "", 0, len(text), "lab")
        for i, text in enumerate(SOURCES)
    ]


def judge(embed_model: str) -> list[tuple[str, bool, claims.SentenceCheck]]:
    """Every labelled sentence, one per line of one answer (each is judged on its own)."""
    checks = claims.check_answer("\n".join(s for s, _ in LABELLED), hits(), embed_model).sentences
    assert [c.text for c in checks] == [s for s, _ in LABELLED]
    assert all(c.claim for c in checks)
    return [(sentence, label, check) for (sentence, label), check in zip(LABELLED, checks, strict=True)]


def rates(results: list[tuple[str, bool, claims.SentenceCheck]]) -> tuple[float, float, float]:
    """(accuracy, share of supported sentences flagged, share of unsupported ones caught)."""
    supported = [r for r in results if r[1]]
    unsupported = [r for r in results if not r[1]]
    accuracy = sum(bool(c.supported) == label for _, label, c in results) / len(results)
    false_flags = sum(not c.supported for _, _, c in supported) / len(supported)
    caught = sum(not c.supported for _, _, c in unsupported) / len(unsupported)
    return accuracy, false_flags, caught


def test_labelled_set_with_the_embedding_model(embedder: Any) -> None:
    results = judge(DEFAULT_MODEL)
    accuracy, false_flags, caught = rates(results)
    print(f"claim check, MiniLM + words: accuracy {accuracy:.0%}, false flags {false_flags:.0%}, caught {caught:.0%}")
    assert accuracy >= 0.8 and false_flags <= 0.2 and caught >= 0.85
    unsupported = [r for r in results if not r[1]]
    for sentence, _, check in unsupported[:SPECIFIC]:
        assert not check.supported and check.missing, sentence  # what disagrees is named
    # The reason names the number and what the closest source says instead.
    nine = next(c for s, _, c in results if s.startswith("The tank is refilled every 9"))
    assert nine.missing == ["9"] and nine.reason.startswith("“9” is not in the sources") and "“31”" in nine.reason


def test_labelled_set_with_words_alone() -> None:
    """Without the embedding model (not loaded), numbers, days and names are still caught; paraphrases
    are flagged more often (the chat always has the model: retrieval loaded it)."""
    results = judge("")
    accuracy, _, caught = rates(results)
    print(f"claim check, words alone: accuracy {accuracy:.0%}, caught {caught:.0%}")
    unsupported = [r for r in results if not r[1]]
    assert all(not c.supported for _, _, c in unsupported[:SPECIFIC])
    assert accuracy >= 0.6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Not claims: a question, pleasantries, a list's introduction, "not found", a disclosure, a heading.
        ("What do you want to know?", []),
        ("I hope this helps!", []),
        ("Here is what I found:", []),
        ("I could not find this in your documents.", []),
        ("This does not come from your documents, but most labs refill tanks monthly.", []),
        ("## Freezer", []),
        ("```\nrefill every 9 days\n```", []),
        # A list item is a claim without its marker; a citation after the full stop stays with its sentence.
        ("- The tank is refilled every 9 days. [1]", ["The tank is refilled every 9 days. [1]"]),
        ("1. Samples are kept in freezer 3.\n2. The grant covers 38,000 euros.",
         ["Samples are kept in freezer 3.", "The grant covers 38,000 euros."]),
        ("Dr. Martin leads it, e.g. on Mondays.", ["Dr. Martin leads it, e.g. on Mondays."]),
    ],
)  # fmt: skip
def test_which_sentences_are_claims(text: str, expected: list[str]) -> None:
    checks = claims.check_answer(text, hits())
    assert [c.text for c in checks.claims] == expected


def test_specifics_are_normalised() -> None:
    assert set(claims.specifics("4,500 rpm for twelve minutes at 4.50 degrees", in_source=False)) == {
        "4500", "12", "4.5",
    }  # fmt: skip
    assert set(claims.specifics("minus eighty, forty-two, three thousand, on 14 March", in_source=True)) == {
        "80", "42", "3000", "14", "march", "3",
    }  # fmt: skip
    assert set(claims.specifics("Open on Tuesdays at 8:00 and 9:30", in_source=False)) == {"tuesday", "8", "9", "30"}
    assert claims.specifics("the one in room 3", in_source=False) == {"3": "3"}


def test_cited_and_uncited_sentences_are_checked_alike(embedder: Any) -> None:
    text = (
        "The centrifuge must run at 4,500 rpm for 12 minutes [2]. The tank is refilled every 9 days. "
        "The grant covers 38,000 euros [1]."
    )
    check = claims.check_answer(text, hits(), DEFAULT_MODEL)
    first, second, third = check.sentences
    assert first.supported and first.matches == [2] and first.unsupported == []
    assert second.claim and not second.supported and second.cited == [] and second.missing == ["9"]
    assert third.supported and third.matches == [3] and third.unsupported == [1]  # true, but [1] does not say it
    assert [c.text for c in check.unsupported_claims] == [second.text]
    # Each source's passage is its sentence closest to the answer (not the passage's first words).
    start, end = check.passages[1] or (0, 0)
    assert SOURCES[1][start:end].startswith("The centrifuge must run at 4,500 rpm")
    start, end = check.passages[0] or (0, 0)
    assert SOURCES[0][start:end].startswith("The liquid nitrogen tank in room 12 is refilled")
