"""Fast checks of the LLM layer's plumbing: settings, the factory, JSON validation, stop strings."""

from __future__ import annotations

import pytest

from convrec.agent.llm import cut_at_stops, make_backend, validate_json_text
from convrec.agent.llm_local import resolve_quantization
from convrec.agent.llm_openai import OpenAIBackend
from convrec.config import Settings, load_settings
from convrec.errors import ConfigError, LLMError

SCHEMA = {"type": "object", "properties": {"year": {"type": "integer", "minimum": 1900}}, "required": ["year"]}


def test_llm_settings_come_from_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVREC_LLM__BACKEND", "openai")
    monkeypatch.setenv("CONVREC_LLM__BASE_URL", "http://gpu-box:8000/v1/")
    monkeypatch.setenv("CONVREC_LLM__MODEL", "qwen2.5-coder-1.5b")
    s = Settings()
    assert (s.llm.backend, s.llm.base_url, s.llm.model) == ("openai", "http://gpu-box:8000/v1", "qwen2.5-coder-1.5b")
    assert s.llm.quantization == "auto" and s.llm.decoder == "xgrammar"
    assert s.llm.prompt_cache and s.llm.prompt_lookup_tokens == 10  # the speed-ups bench/llm.py kept


def test_bad_llm_settings_are_one_sentence() -> None:
    with pytest.raises(ConfigError, match="Invalid setting llm.base_url: llm.base_url must start with http"):
        load_settings(llm={"base_url": "gpu-box:8000"})
    with pytest.raises(ConfigError, match="Invalid setting llm.quantization"):
        load_settings(llm={"quantization": "q3"})


def test_factory_builds_the_server_backend_and_none(tmp_path) -> None:
    backend = make_backend(Settings(home=tmp_path, llm={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model_name": "m"}))
    assert isinstance(backend, OpenAIBackend) and backend.name == "openai:m@http://127.0.0.1:9/v1"
    assert make_backend(Settings(home=tmp_path, llm={"backend": "none"})) is None
    with pytest.raises(ConfigError, match="llm.base_url is not set"):
        make_backend(Settings(home=tmp_path, llm={"backend": "openai"}))


def test_auto_quantization_follows_the_device() -> None:
    assert resolve_quantization("auto", "cpu") == "fp32"
    assert resolve_quantization("auto", "cuda:0") == "nf4"
    assert resolve_quantization("bf16", "cpu") == "bf16"
    with pytest.raises(LLMError, match="Unknown quantization 'q3'"):
        resolve_quantization("q3", "cpu")


def test_json_is_found_in_chatter_and_checked_against_the_schema() -> None:
    assert validate_json_text('Sure! {"year": 1994} Anything else?', SCHEMA, "m") == {"year": 1994}
    with pytest.raises(LLMError, match="m did not answer with a JSON object"):
        validate_json_text("I'm sorry, but I can't.", SCHEMA, "m")
    with pytest.raises(LLMError, match="malformed JSON"):
        validate_json_text('{"year": 19', SCHEMA, "m")
    with pytest.raises(LLMError, match="at year: 1850 is less than the minimum of 1900"):
        validate_json_text('{"year": 1850}', SCHEMA, "m")


@pytest.mark.parametrize(
    ("deltas", "stop", "expected"),
    [
        (["Hello ", "wor", "ld"], None, "Hello world"),
        (["one two ", "ST", "OP three"], ["STOP"], "one two "),  # a stop split across deltas
        (["STOP"], ["STOP"], ""),
        (["a\n", "\nb"], ["\n\n", "zz"], "a"),
        (["no stop here"], ["zz"], "no stop here"),
    ],
)
def test_stop_strings_cut_the_stream(deltas: list[str], stop: list[str] | None, expected: str) -> None:
    assert "".join(cut_at_stops(iter(deltas), stop)) == expected


def test_gpu_benchmark_skips_cleanly_without_cuda(tmp_path) -> None:
    import torch

    from bench.llm import gpu_benchmark

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: bench/llm.py measures it for real")
    assert gpu_benchmark(tmp_path) == {"skipped": "no CUDA device"}
