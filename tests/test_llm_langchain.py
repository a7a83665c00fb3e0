"""Any LangChain chat model as a backend: a real ChatHuggingFace over the default model."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from convrec.agent.llm import LLMBackend
from convrec.agent.llm_langchain import LangChainBackend
from convrec.errors import LLMError

SCHEMA = {
    "type": "object",
    "properties": {"genre": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["genre", "year"],
}
MESSAGES = [{"role": "user", "content": "Give the genre and release year of the movie Alien (1979)."}]


@pytest.fixture(scope="module")
def chat_model(local_llm):
    """A real LangChain chat model: ChatHuggingFace over a transformers pipeline that reuses the
    session's loaded Qwen2.5-Coder-0.5B (no second copy in memory)."""
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline
    from transformers import pipeline

    pipe = pipeline(
        "text-generation",
        model=local_llm.model,
        tokenizer=local_llm.tokenizer,
        max_new_tokens=32,
        do_sample=False,
        return_full_text=False,
    )
    llm = HuggingFacePipeline(pipeline=pipe, model_id="qwen2.5-coder-0.5b")
    return ChatHuggingFace(llm=llm, tokenizer=local_llm.tokenizer)


@pytest.mark.slow
def test_structured_output_from_a_real_langchain_model(chat_model) -> None:
    backend = LangChainBackend(chat_model)
    assert isinstance(backend, LLMBackend) and backend.name == "langchain:ChatHuggingFace"
    result = backend.generate_json(MESSAGES, SCHEMA, max_tokens=32)
    assert isinstance(result["genre"], str) and isinstance(result["year"], int)


@pytest.mark.slow
def test_streaming_from_a_real_langchain_model(chat_model) -> None:
    deltas = list(LangChainBackend(chat_model).stream([{"role": "user", "content": "Count from one to five in words."}]))
    assert len(deltas) >= 2 and "".join(deltas).strip()


def test_a_model_that_never_gives_json_fails_clearly_after_a_retry() -> None:
    calls: list[list] = []

    def chatty(messages: list) -> AIMessage:  # injected fault: a model that ignores the format
        calls.append(messages)
        return AIMessage(content="Sure! Alien is a great sci-fi horror film from 1979.")

    backend = LangChainBackend(RunnableLambda(chatty), name="langchain:chatty", json_retries=1)
    with pytest.raises(LLMError) as caught:
        backend.generate_json(MESSAGES, SCHEMA)
    assert str(caught.value).startswith("The chat model langchain:chatty did not answer with a JSON object")
    assert str(caught.value).endswith("(after 2 tries)")
    assert len(calls) == 2 and "not valid" in calls[1][-1].content  # the retry showed the mistake


def test_a_retry_fixes_json_that_broke_the_schema() -> None:
    answers = iter(['{"genre": "Sci-Fi"}', 'Here: {"genre": "Sci-Fi", "year": 1979} hope that helps'])
    backend = LangChainBackend(RunnableLambda(lambda _: AIMessage(content=next(answers))))
    assert backend.generate_json(MESSAGES, SCHEMA) == {"genre": "Sci-Fi", "year": 1979}


def test_stop_strings_are_applied_even_if_the_model_ignores_them() -> None:
    backend = LangChainBackend(RunnableLambda(lambda _: AIMessage(content="one two STOP three")))
    assert "".join(backend.stream(MESSAGES, stop=["STOP"])) == "one two "
