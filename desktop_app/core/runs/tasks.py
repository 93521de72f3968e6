"""A task: what to ask the model about each row, what kind of answer to expect, how to score it.

The user template names columns in braces (``Classify: {abstract}``; ``{{`` and ``}}`` for
literal braces). Few-shot examples are rows of the dataset shown to the model with their
reference as the answer; they are left out of the rows run and scored.

The messages of a row are the system prompt, the examples, then the row: the part every row
shares comes first, so llama.cpp reads it once (see backends.LocalGenerator).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from desktop_app.core.errors import HearthError
from desktop_app.core.inference.engine import Message
from desktop_app.core.runs.datasets import Row
from desktop_app.core.runs.generators import OUTPUT_KINDS, Constraint, RowError
from desktop_app.core.settings import SamplingSettings

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}\n]*)\}")
# Sampling for runs unless the task says otherwise: greedy, so the same row gives the same answer.
RUN_TEMPERATURE = 0.0
RUN_MAX_TOKENS = 256
RUN_SEED = 0


def run_sampling(**overrides: Any) -> SamplingSettings:
    base = SamplingSettings(temperature=RUN_TEMPERATURE, max_tokens=RUN_MAX_TOKENS, seed=RUN_SEED)
    for key, value in overrides.items():
        if value is not None:
            setattr(base, key, value)
    return base


@dataclass
class Task:
    prompt: str  # the user template, with {column} fields
    system: str = ""
    kind: str = "text"  # one of OUTPUT_KINDS
    labels: list[str] = field(default_factory=list)
    schema: dict[str, Any] | None = None
    reference: str | None = None  # the column holding the expected answer
    scorer: str = ""  # "" -> the kind's default (scoring.DEFAULT_SCORER)
    tolerance: float = 0.0  # numeric scorer, and numbers in JSON fields
    threshold: float = 0.5  # token_f1: the F1 from which an answer counts as correct
    few_shot: list[int] = field(default_factory=list)  # dataset row indices shown as examples
    collection: str | None = None  # a document collection: each row is a question answered from it
    k: int | None = None  # passages retrieved per question (None: the documents settings)
    source_column: str | None = None  # document runs: the file that should be retrieved
    page_column: str | None = None  # ... and its page
    id_column: str | None = None  # the column naming each row (default: "id" if there is one)
    limit: int | None = None  # run only the first N rows (after the examples are taken out)
    rows: list[int] | None = None  # only these dataset rows (a sweep's development or test rows)
    grammar: str | None = None  # JSON: a llama.cpp grammar stricter than the schema's (core/runs/judge.py)
    sampling: SamplingSettings = field(default_factory=run_sampling)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        data = dict(data)
        sampling = SamplingSettings(**{k: v for k, v in (data.pop("sampling", None) or {}).items() if k in _SAMPLING})
        known = {k: v for k, v in data.items() if k in _TASK_FIELDS}
        return cls(**{"prompt": "", **known}, sampling=sampling)

    @property
    def fields(self) -> list[str]:
        return template_fields(self.prompt)

    def constraint(self) -> Constraint | None:
        if self.kind == "labels":
            return Constraint("labels", tuple(self.labels))
        if self.kind == "json":
            return Constraint("json", schema=self.schema or {}, grammar=self.grammar)
        if self.kind == "number":
            return Constraint("number")
        return None


_SAMPLING = set(SamplingSettings.__dataclass_fields__)
_TASK_FIELDS = set(Task.__dataclass_fields__) - {"sampling"}


def template_fields(template: str) -> list[str]:
    """The column names a template uses, in order of first use."""
    names: list[str] = []
    for match in _FIELD.finditer(template):
        name = match.group(1)
        if name is not None and name not in names:
            names.append(name)
    return names


def render(template: str, row: Row) -> str:
    """The template with each ``{column}`` replaced by the row's value; RowError when the row
    lacks one (a JSONL line without that key)."""

    def value(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name not in row:
            raise RowError(
                f"This row has no value for “{name}”.", "Add the field to the row, or leave it out of the template."
            )
        return row[name]

    return _FIELD.sub(value, template)


def _unknown_column(kind: str, name: str, columns: Sequence[str]) -> HearthError:
    close = difflib.get_close_matches(name, columns, n=1)
    maybe = f" Did you mean “{close[0]}”?" if close else ""
    return HearthError(
        f"The {kind} names a column that is not in the dataset: “{name}”.{maybe}",
        f"The columns are: {', '.join(columns)}.",
    )


def check_task(task: Task, columns: Sequence[str]) -> None:
    """What can be checked without reading rows; HearthError in plain words."""
    if task.kind not in OUTPUT_KINDS:
        raise HearthError(f"“{task.kind}” is not an output kind.", f"Choose one of: {', '.join(OUTPUT_KINDS)}.")
    if not task.prompt.strip():
        raise HearthError("The prompt template is empty.", "Write what to ask about each row, e.g. “Classify: {text}”.")
    fields = task.fields
    if not fields:
        raise HearthError(
            "The prompt template names no column, so every row would get the same prompt.",
            f"Put a column in braces, e.g. {{{columns[0]}}}.",
        )
    for name in fields:
        if name not in columns:
            raise _unknown_column("template", name, columns)
    for label, column in (
        ("reference", task.reference),
        ("source column", task.source_column),
        ("page column", task.page_column),
    ):
        if column and column not in columns:
            raise _unknown_column(label, column, columns)
    if task.kind == "labels":
        from desktop_app.core.inference import grammars

        grammars.labels(task.labels)  # plain-words errors for none or repeated labels
        task.labels = [str(label).strip() for label in task.labels]
    if task.kind == "json":
        _check_schema(task.schema)
    if task.few_shot and not task.reference:
        raise HearthError(
            "Few-shot examples need a reference column.", "Their reference is the answer the model is shown."
        )
    if task.collection and task.kind != "text":
        raise HearthError(
            "Questions about documents are answered in free text.", "Choose the free-text output for a document run."
        )
    if task.limit is not None and task.limit < 1:
        raise HearthError("The row limit must be at least 1.")


def _check_schema(schema: dict[str, Any] | None) -> None:
    if not isinstance(schema, dict) or not schema:
        raise HearthError("A JSON task needs a schema.", "Give a JSON schema with the fields to extract.")
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise HearthError(f"The JSON schema is not valid: {exc.message}.") from None


def example_answer(task: Task, reference: str) -> str:
    """A few-shot example's answer as the model should write it."""
    if task.kind == "json":
        try:
            return json.dumps(json.loads(reference), ensure_ascii=False)
        except ValueError:
            return reference.strip()
    return reference.strip()


def build_messages(task: Task, row: Row, examples: Sequence[Row] = ()) -> list[Message]:
    messages = [Message("system", task.system)] if task.system.strip() else []
    for example in examples:
        messages.append(Message("user", render(task.prompt, example)))
        messages.append(Message("assistant", example_answer(task, example.get(task.reference or "", ""))))
    messages.append(Message("user", render(task.prompt, row)))
    return messages


def probe_rows(task: Task) -> tuple[Row, Row]:
    """Two made-up rows that differ in every field: what their prompts share, every row's shares."""
    return ({name: "a" for name in task.fields}, {name: "b" for name in task.fields})
