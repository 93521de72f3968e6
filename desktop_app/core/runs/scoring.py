"""Reading a model's output for its kind, and scoring it against the row's reference.

:func:`parse_output` says whether an output is valid for the task's output kind (a label, JSON
that validates against the schema, a number). :func:`score` compares an output with a reference
using one of :data:`SCORERS`; a row without a reference is not scored. Every scorer gives a
``correct`` (what accuracy counts) and a ``score`` between 0 and 1 (equal to it, except token F1).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from desktop_app.core.errors import HearthError

SCORERS = {
    "exact": "the output equals the reference (surrounding spaces aside)",
    "normalized": "equal once case, spaces and punctuation are set aside",
    "contains": "the output contains the reference (normalised)",
    "regex": "the reference is a regular expression the output must match",
    "label": "the label equals the reference label (case aside)",
    "numeric": "the number is within the tolerance of the reference",
    "token_f1": "word overlap (F1) with the reference; correct at or above the threshold",
    "fields": "each field of the JSON output equals the reference's (a JSON object)",
}
ALIASES = {"normalised": "normalized", "normalized_exact": "normalized", "f1": "token_f1", "labels": "label"}
DEFAULT_SCORER = {"text": "normalized", "labels": "label", "json": "fields", "number": "numeric"}


def scorer_name(name: str | None, kind: str) -> str:
    if not name:
        return DEFAULT_SCORER[kind]
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in SCORERS:
        raise HearthError(f"There is no scorer called “{name}”.", f"Choose one of: {', '.join(SCORERS)}.")
    return key


def normalize(text: str) -> str:
    """Lower case, no punctuation, single spaces (SQuAD's normalisation, without dropping articles)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return " ".join(text.split())


def parse_number(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", "")) if text.strip() else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class Parsed:
    valid: bool
    value: Any  # the label, the parsed JSON, the float, or the text
    reason: str = ""  # why it is not valid


def parse_output(kind: str, text: str, labels: Sequence[str] = (), schema: dict[str, Any] | None = None) -> Parsed:
    stripped = text.strip()
    if kind == "labels":
        if stripped in labels:
            return Parsed(True, stripped)
        return Parsed(False, stripped, "not one of the labels")
    if kind == "number":
        number = parse_number(stripped)
        return Parsed(number is not None, number, "" if number is not None else "not a number")
    if kind == "json":
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            return Parsed(False, None, f"not valid JSON ({exc.args[0]})")
        if schema:
            import jsonschema

            try:
                jsonschema.validate(value, schema)
            except jsonschema.ValidationError as exc:
                return Parsed(False, value, f"does not match the schema: {exc.message}")
        return Parsed(True, value)
    return Parsed(True, text)


@dataclass(frozen=True)
class Score:
    correct: bool
    score: float
    fields: dict[str, bool] | None = None  # the "fields" scorer: each reference field right or wrong


def token_f1(output: str, reference: str) -> float:
    out, ref = normalize(output).split(), normalize(reference).split()
    if not out or not ref:
        return float(out == ref)
    common = sum((Counter(out) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(out), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def _same_value(output: Any, reference: Any, tolerance: float) -> bool:
    if isinstance(reference, bool) or isinstance(output, bool):
        return output is reference or (isinstance(output, str) and normalize(output) == str(reference).lower())
    if isinstance(reference, int | float):
        number = output if isinstance(output, int | float) else parse_number(str(output))
        return number is not None and abs(float(number) - float(reference)) <= tolerance
    if isinstance(reference, list):
        if not isinstance(output, list):
            return False
        return sorted(normalize(json.dumps(v) if not isinstance(v, str) else v) for v in output) == sorted(
            normalize(json.dumps(v) if not isinstance(v, str) else v) for v in reference
        )
    if reference is None:
        return output is None
    if isinstance(reference, dict):
        return isinstance(output, dict) and all(_same_value(output.get(k), v, tolerance) for k, v in reference.items())
    return normalize(str(output)) == normalize(str(reference))


def reference_object(reference: str) -> dict[str, Any] | None:
    try:
        value = json.loads(reference)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def score(
    scorer: str,
    output: str,
    reference: str,
    parsed: Parsed,
    tolerance: float = 0.0,
    threshold: float = 0.5,
) -> Score:
    """``output`` (as generated, ``parsed`` for its kind) against ``reference``. An invalid
    output is wrong."""
    if scorer == "fields":
        expected = reference_object(reference) or {}
        got = parsed.value if parsed.valid and isinstance(parsed.value, dict) else {}
        fields = {
            key: parsed.valid and key in got and _same_value(got[key], value, tolerance)
            for key, value in expected.items()
        }
        right = all(fields.values()) if fields else False
        return Score(right, sum(fields.values()) / len(fields) if fields else 0.0, fields)
    if not parsed.valid:
        return Score(False, 0.0)
    if scorer == "token_f1":
        f1 = token_f1(output, reference)
        return Score(f1 >= threshold, f1)
    if scorer == "exact":
        right = output.strip() == reference.strip()
    elif scorer == "normalized":
        right = normalize(output) == normalize(reference)
    elif scorer == "contains":
        right = normalize(reference) in normalize(output)
    elif scorer == "regex":
        right = re.search(reference, output) is not None
    elif scorer == "label":
        right = output.strip().casefold() == reference.strip().casefold()
    elif scorer == "numeric":
        out_number, ref_number = parse_number(output), parse_number(reference)
        right = out_number is not None and ref_number is not None and abs(out_number - ref_number) <= tolerance
    else:
        raise ValueError(f"unknown scorer {scorer!r}")
    return Score(right, 1.0 if right else 0.0)


def check_reference(scorer: str, reference: str, labels: Sequence[str]) -> str:
    """Why ``reference`` cannot be scored by ``scorer`` ("" when it can): checked for every row
    before a run starts, so a typo in row 900 does not spoil a finished run."""
    if scorer == "label" and labels and reference.strip().casefold() not in {label.casefold() for label in labels}:
        return f"“{reference.strip()}” is not one of the labels ({', '.join(labels)})"
    if scorer == "numeric" and parse_number(reference) is None:
        return f"“{reference.strip()}” is not a number"
    if scorer == "regex":
        try:
            re.compile(reference)
        except re.error as exc:
            return f"“{reference}” is not a valid regular expression ({exc})"
    if scorer == "fields" and reference_object(reference) is None:
        return "it is not a JSON object with the expected fields"
    return ""
