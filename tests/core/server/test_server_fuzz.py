"""Schemathesis over Hearth's own /openapi.json (issue 23, item 7): a few hundred generated
requests, valid and not, against the real server on 127.0.0.1. None may get a 5xx, each status
must be one the schema lists, each error must have the schema's (OpenAI's) shape, and the
server must still answer afterwards. Some bodies name the real model, with ``max_tokens``
capped, so generation is fuzzed too and not only the refusals."""

from __future__ import annotations

import time
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

CASES_PER_OPERATION = 40
MAX_TOKENS = 3


def _small(value: Any) -> Any:
    """A generated body cut down so that a real generation stays short (few, short texts)."""
    if isinstance(value, str):
        return value[:200]
    if isinstance(value, list):
        return [_small(v) for v in value[:3]]
    if isinstance(value, dict):
        return {k: _small(v) for k, v in value.items()}
    return value


def test_fuzzed_requests_never_get_a_server_error(hearth_server: Any) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{hearth_server.root}/openapi.json")
    headers = {"Authorization": f"Bearer {hearth_server.key}", "X-Hearth-Save-Conversation": "false"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {"/v1/chat/completions", "/v1/completions", "/v1/embeddings"} <= {op.path for op in operations}
    statuses: dict[int, int] = {}
    started = time.monotonic()
    for operation in operations:

        @given(case=operation.as_strategy(), real_model=st.integers(0, 9).map(lambda i: i < 4))
        @settings(max_examples=CASES_PER_OPERATION, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: Any, real_model: bool) -> None:
            if isinstance(case.body, dict):
                if real_model and "model" in case.body:
                    case.body = _small(case.body)
                    case.body["model"] = hearth_server.model_id
                for name in ("max_tokens", "max_completion_tokens", "n"):
                    value = case.body.get(name)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        case.body[name] = min(value, MAX_TOKENS if name != "n" else 2)
                if "max_tokens" not in case.body and "input" not in case.body:
                    case.body["max_tokens"] = MAX_TOKENS
            response = case.call(base_url=hearth_server.root, headers=headers, timeout=180)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=checks, headers=headers)

        run()
    assert sum(statuses.values()) >= 150  # some operations (GET /health) have fewer distinct requests
    assert any(code < 300 for code in statuses) and 400 in statuses  # both answers and refusals were fuzzed
    assert not [code for code in statuses if code >= 500]
    assert time.monotonic() - started < 600
    import httpx

    assert httpx.get(f"{hearth_server.url}/models", headers=headers).status_code == 200  # still serving
