"""Schemathesis fuzzes every operation of the OpenAPI schema against the real app (rules-only
agent, real index, real SQLite): no 5xx, and every answer matches the schema. Half the cases run
against a real session, so fuzzed text reaches a real turn, fuzzed keys a real dialogue state."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convrec.config import Settings
from convrec.ui.api import create_app

pytestmark = pytest.mark.slow

EXAMPLES = 25  # per operation; ~10 operations, each a few ms with the rules-only agent


@pytest.fixture(scope="module")
def fuzz_agent(ml_settings: Settings, ml_index: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from convrec.agent.sessions import SessionStore
    from convrec.agent.turn import Agent

    return Agent(ml_settings, llm=None, sessions=SessionStore(tmp_path_factory.mktemp("fuzz") / "sessions.sqlite"))


@pytest.fixture(scope="module")
def fuzz_app(fuzz_agent: Any) -> Any:
    return create_app(fuzz_agent, ui=False)


@pytest.fixture(scope="module")
def real_session(fuzz_agent: Any) -> str:
    sid = fuzz_agent.new_session(user_id="196")
    fuzz_agent.chat(sid, "a light-hearted sci-fi film from the 90s, nothing violent")
    return sid


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def test_no_operation_answers_5xx(api_schema: Any, real_session: str) -> None:
    # One hypothesis run per operation. (schemathesis.pytest.from_fixture would make one test per
    # operation, but it does not work with pytest 9.)
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: Any) -> None:
            params = case.path_parameters or {}
            if "session_id" in params and hash(str(params["session_id"])) % 2:
                params["session_id"] = real_session
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
            )
            case.validate_response(response)  # status, content type, headers and body match the schema

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


@given(text=st.text(max_size=400))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_text_gets_a_reply(fuzz_app: Any, real_session: str, text: str) -> None:
    """Whatever a person types (control characters, emoji, lone surrogates excluded by JSON) gets a 200."""
    client = TestClient(fuzz_app)
    resp = client.post(f"/sessions/{real_session}/messages", json={"text": text})
    assert resp.status_code == 200, resp.text
    assert resp.json()["text"].strip()
