"""The local transformers backend with the real default model (Qwen2.5-Coder-0.5B-Instruct)."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel, Field

from convrec.agent.llm import LLMBackend
from convrec.errors import LLMError

pytestmark = pytest.mark.slow

SYSTEM = "You read movie requests and fill in the JSON preferences. Use genre names such as Comedy, Sci-Fi, Drama."


class MovieRequest(BaseModel):
    query: str = Field(max_length=40)
    genres: list[str] = Field(max_length=3)
    decade: int | None = Field(None, ge=1900, le=2020)


# Small enough that a generation takes a few tokens: keeps these tests quick on a 2-core CPU.
GENRE = {"type": "object", "properties": {"genre": {"enum": ["Comedy", "Drama", "Horror"]}}, "required": ["genre"]}


def ask(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def test_backend_satisfies_the_interface(local_llm) -> None:
    assert isinstance(local_llm, LLMBackend)
    assert local_llm.name == "local:qwen2.5-coder-0.5b:fp32"


def test_generate_json_matches_a_pydantic_schema_and_stops_at_the_object(local_llm) -> None:
    schema = MovieRequest.model_json_schema()
    result = local_llm.generate_json(ask("a funny sci-fi movie from the 90s"), schema, max_tokens=48)
    parsed = MovieRequest.model_validate(result)  # raises if the JSON broke the schema
    assert parsed.genres, result


def test_cut_off_json_is_a_clear_error(local_llm) -> None:
    with pytest.raises(LLMError, match=r"cut off at max_tokens=3; raise it"):
        local_llm.generate_json(ask("a comedy"), MovieRequest.model_json_schema(), max_tokens=3)


def test_invalid_schema_is_a_clear_error(local_llm) -> None:
    with pytest.raises(LLMError, match="The JSON schema is invalid"):
        local_llm.generate_json(ask("a comedy"), {"type": "no-such-type"}, max_tokens=8)


def test_bad_messages_are_rejected_before_generation(local_llm) -> None:
    with pytest.raises(LLMError, match="role 'robot'"):
        local_llm.generate_json([{"role": "robot", "content": "hi"}], {"type": "object"})


def test_stream_yields_text_deltas_and_honours_stop(local_llm) -> None:
    messages = ask("Name three classic comedies, one per line.")
    deltas = list(local_llm.stream(messages, max_tokens=24))
    assert len(deltas) >= 3 and all(isinstance(d, str) and d for d in deltas)
    text = "".join(deltas)
    assert text.strip()
    # Prompt-lookup decoding (the default) must not change greedy text, cached system prompt or not.
    assert local_llm.prompt_lookup_tokens > 0
    plain = local_llm.variant(prompt_lookup_tokens=0)
    assert "".join(plain.stream(messages, max_tokens=24)) == text
    assert "".join(plain.variant(prompt_cache=False).stream(messages, max_tokens=24)) == text
    stop_at = text.split()[2]  # a word that certainly occurs in this (greedy) answer
    cut = "".join(local_llm.stream(messages, max_tokens=24, stop=[stop_at]))
    assert stop_at not in cut and text.startswith(cut)


def test_closing_a_stream_early_releases_the_model(local_llm) -> None:
    stream = local_llm.stream(ask("Tell me a long story about a robot."), max_tokens=200)
    assert next(stream)
    stream.close()  # the reader went away: generation is cancelled at the next token
    started = time.perf_counter()
    local_llm.generate_json(ask("a drama"), GENRE, max_tokens=12)
    assert time.perf_counter() - started < 60  # not stuck behind 200 tokens of an abandoned story


def test_prompt_cache_gives_the_same_answer_as_no_cache(local_llm) -> None:
    messages = ask("a film about a haunted house")
    first = local_llm.generate_json(messages, GENRE, max_tokens=12)
    assert SYSTEM in local_llm._prefixes  # the system prompt's KV cache is stored …
    again = local_llm.generate_json(messages, GENRE, max_tokens=12)  # … and this call starts from it
    uncached = local_llm.variant(prompt_cache=False).generate_json(messages, GENRE, max_tokens=12)
    assert first == again == uncached


def test_one_model_serves_concurrent_sessions(local_llm) -> None:
    results: list[dict] = []
    errors: list[BaseException] = []

    def session(text: str) -> None:
        try:
            results.append(local_llm.generate_json(ask(text), GENRE, max_tokens=12))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(t,)) for t in ("a scary film", "a funny film")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 2
    assert all(r["genre"] in {"Comedy", "Drama", "Horror"} for r in results)
