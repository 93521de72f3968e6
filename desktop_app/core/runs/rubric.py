"""A judge's rubric: criteria, each with a scale, read from a file the user writes.

Two formats, both plain text:

- **JSON**::

    {"name": "Summaries",
     "instructions": "Judge only what the answer says, not how long it is.",
     "criteria": [
       {"name": "faithful", "description": "Says only what the source says.", "scale": [1, 5]},
       {"name": "fluent", "description": "Reads as plain, correct English.", "scale": ["pass", "fail"]},
       {"name": "tone", "description": "…", "scale": ["rude", "neutral", "kind"], "level": "ordinal"}]}

  A scale of two integers ``[low, high]`` means every whole number from low to high (at most 11
  of them); a list of words means those words (2 to 10, written as given). ``level`` says how the
  scale is compared when a judge is checked against people: ``ordinal`` (integers' default: 4 is
  closer to 5 than 1 is) or ``nominal`` (words' default: only equal or not).

- **Text**, one criterion a line, ``name | scale | what it means`` (``#`` starts a comment)::

    instructions: Judge only what the answer says, not how long it is.
    faithful | 1-5 | Says only what the source says.
    fluent | pass, fail | Reads as plain, correct English.

A rubric gives the judge's output its exact shape, ``{"faithful": 4, "fluent": "pass"}``: a
llama.cpp grammar (:meth:`Rubric.gbnf`) with no room for anything else, so every score lies on its
scale and the output ends within :meth:`Rubric.max_tokens`; a server gets the same as a JSON schema.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.core.errors import HearthError

MAX_INTEGER_POINTS = 11
MAX_WORDS = 10
LEVELS = ("nominal", "ordinal", "interval")
PAIRWISE_CHOICES = ("A", "B", "tie")  # the first answer shown, the second, or neither better
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_ -]{0,39}$")
_WORD = re.compile(r"^[^\"\\\n\r\t{}]{1,40}$")
_RANGE = re.compile(r"^\s*(-?\d+)\s*(?:-|–|to|\.\.)\s*(-?\d+)\s*$")


@dataclass(frozen=True)
class Criterion:
    name: str
    description: str
    scale: tuple[int | str, ...]  # every allowed value, in order
    level: str = "nominal"

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, int) for v in self.scale)

    def scale_words(self) -> str:
        if self.numeric and len(self.scale) > 2:
            return f"a whole number from {self.scale[0]} to {self.scale[-1]}"
        return " or ".join(f"“{v}”" for v in self.scale)

    def value(self, raw: Any) -> int | str | None:
        """``raw`` as a value of this scale, or None when it is not on it."""
        for v in self.scale:
            if raw == v and type(raw) is type(v):
                return v
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "scale": list(self.scale), "level": self.level}


@dataclass(frozen=True)
class Rubric:
    criteria: tuple[Criterion, ...]
    name: str = ""
    instructions: str = ""
    source: str = ""  # the file it was read from, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "instructions": self.instructions,
            "criteria": [c.to_dict() for c in self.criteria],
        }

    @property
    def sha256(self) -> str:
        """Of the rubric's content (not the file's bytes: the same rubric in either format agrees)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def criterion(self, name: str | None) -> Criterion:
        if name is None:
            return self.criteria[0]
        for c in self.criteria:
            if c.name.casefold() == name.casefold():
                return c
        raise HearthError(
            f"The rubric has no criterion “{name}”.", f"Its criteria are: {', '.join(c.name for c in self.criteria)}."
        )

    # -- the output's shape -------------------------------------------------------------------

    def schema(self) -> dict[str, Any]:
        """A JSON schema that admits exactly the scores on the scales (what a server is sent)."""
        return {
            "type": "object",
            "properties": {c.name: {"enum": list(c.scale)} for c in self.criteria},
            "required": [c.name for c in self.criteria],
            "additionalProperties": False,
        }

    def gbnf(self) -> str:
        """A llama.cpp grammar for ``{"a": <on a's scale>, "b": …}``, keys in order, no other text."""
        parts = []
        for i, c in enumerate(self.criteria):
            key = ("{" if i == 0 else ", ") + json.dumps(c.name) + ": "
            parts.append(f"{_literal(key)} c{i}")
        lines = ["root ::= " + " ".join(parts) + ' "}"']
        for i, c in enumerate(self.criteria):
            lines.append(f"c{i} ::= " + " | ".join(_literal(json.dumps(v)) for v in c.scale))
        return "\n".join(lines) + "\n"

    def example_output(self) -> str:
        return json.dumps({c.name: c.scale[-1] for c in self.criteria}, ensure_ascii=False)

    def max_tokens(self) -> int:
        """Enough for the longest output the grammar allows (a token is at least one character)."""
        longest = sum(len(json.dumps(c.name)) + 4 + max(len(json.dumps(v)) for v in c.scale) for c in self.criteria)
        return longest + 2

    def parse(self, text: str) -> dict[str, int | str] | None:
        """The scores in an output, each on its scale; None when the output is not that."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        scores: dict[str, int | str] = {}
        for c in self.criteria:
            value = c.value(data.get(c.name))
            if value is None:
                return None
            scores[c.name] = value
        return scores

    def for_pairs(self) -> Rubric:
        """The same criteria, each answered with which of two answers is better (or a tie)."""
        criteria = tuple(Criterion(c.name, c.description, PAIRWISE_CHOICES, "nominal") for c in self.criteria)
        return Rubric(criteria, self.name, self.instructions, self.source)


def _literal(text: str) -> str:
    # A GBNF string literal: JSON's escaping is what GBNF accepts for quotes and backslashes.
    return json.dumps(text, ensure_ascii=False)


def _bad(where: str, what: str, hint: str = "") -> HearthError:
    return HearthError(f"The rubric{where} {what}", hint or "See the rubric format in README (Judged answers).")


def _scale(raw: Any, where: str) -> tuple[int | str, ...]:
    if isinstance(raw, str):
        match = _RANGE.match(raw)
        if match:
            raw = [int(match.group(1)), int(match.group(2))]
        else:
            raw = [part.strip() for part in re.split(r"[,/]", raw) if part.strip()]
    if not isinstance(raw, list) or len(raw) < 2:
        raise _bad(where, "needs a scale of at least two points, like 1-5 or “pass, fail”.")
    if len(raw) == 2 and all(type(v) is int for v in raw):
        low, high = int(raw[0]), int(raw[1])
        if high <= low:
            raise _bad(where, f"has a scale from {low} to {high}: the second number must be larger.")
        if high - low + 1 > MAX_INTEGER_POINTS:
            raise _bad(where, f"has {high - low + 1} points on its scale; at most {MAX_INTEGER_POINTS} can be judged.")
        return tuple(range(low, high + 1))
    if all(type(v) is int for v in raw):
        return tuple(sorted(set(raw))) if len(set(raw)) == len(raw) else _repeated(where)
    words = [str(v).strip() for v in raw]
    if len(words) > MAX_WORDS:
        raise _bad(where, f"has {len(words)} words on its scale; at most {MAX_WORDS}.")
    for word in words:
        if not _WORD.match(word):
            raise _bad(where, f"has “{word[:40]}” on its scale: words of 1–40 characters, no quotes or braces.")
    if len({w.casefold() for w in words}) != len(words):
        _repeated(where)
    return tuple(words)


def _repeated(where: str) -> tuple[int | str, ...]:
    raise _bad(where, "repeats a point on its scale.", "Give each point once.")


def _criterion(raw: Any, position: int) -> Criterion:
    where = f"'s criterion {position}"
    if not isinstance(raw, dict):
        raise _bad(where, "is not an object with a name, a description and a scale.")
    name = str(raw.get("name", "")).strip()
    if not _NAME.match(name):
        raise _bad(
            where,
            f"has the name “{name[:40]}”: a name starts with a letter and has at most 40 letters, digits, "
            "spaces, - or _.",
        )
    scale = _scale(raw.get("scale"), f"'s criterion “{name}”")
    numeric = all(isinstance(v, int) for v in scale)
    level = str(raw.get("level") or ("ordinal" if numeric else "nominal")).strip().lower()
    if level not in LEVELS:
        raise _bad(f"'s criterion “{name}”", f"has the level “{level}”; choose one of {', '.join(LEVELS)}.")
    if level == "interval" and not numeric:
        raise _bad(f"'s criterion “{name}”", "is an interval scale of words; an interval scale needs numbers.")
    return Criterion(name, str(raw.get("description", "")).strip(), scale, level)


def from_dict(data: Any, source: str = "") -> Rubric:
    if not isinstance(data, dict):
        raise _bad("", "is not a JSON object with “criteria”.")
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        raise _bad("", "has no criteria.", "Give at least one criterion with a name and a scale.")
    if len(raw) > 12:
        raise _bad("", f"has {len(raw)} criteria; at most 12 can be judged at once.")
    criteria = tuple(_criterion(c, i + 1) for i, c in enumerate(raw))
    if len({c.name.casefold() for c in criteria}) != len(criteria):
        raise _bad("", "names a criterion twice.", "Give each criterion its own name.")
    return Rubric(criteria, str(data.get("name", "")).strip(), str(data.get("instructions", "")).strip(), source)


def parse_text(text: str, source: str = "") -> Rubric:
    """The rubric in either format (JSON when it starts with ``{``)."""
    stripped = text.lstrip("\ufeff").strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise _bad("", f"is not valid JSON: {exc}.") from None
        return from_dict(data, source)
    fields: dict[str, Any] = {"criteria": []}
    for number, line in enumerate(stripped.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, colon, rest = line.partition(":")
        if colon and "|" not in line and key.strip().lower() in ("instructions", "name"):
            fields[key.strip().lower()] = rest.strip()
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 2:
            raise _bad(f" (line {number})", "is not “name | scale | what it means”.")
        fields["criteria"].append({"name": parts[0], "scale": parts[1], "description": " | ".join(parts[2:])})
    return from_dict(fields, source)


def load(path: str | Path) -> Rubric:
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HearthError(f"The rubric “{path}” could not be read: {exc.strerror or exc}.") from None
    if len(raw) > 200_000:
        raise HearthError(f"The rubric “{path.name}” is {len(raw):,} bytes; a rubric is a short text file.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HearthError(f"The rubric “{path.name}” is not UTF-8 text.", "Save it as UTF-8.") from None
    return parse_text(text, str(path))
