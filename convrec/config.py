"""All configuration in one place.

Values come, highest priority first, from: arguments passed to `Settings(...)`, `CONVREC_*`
environment variables (nested fields with `__`, e.g. `CONVREC_HNSW__EF_SEARCH=200`), a TOML file
(`$CONVREC_CONFIG`, else `./convrec.toml` if present), then the defaults below. A `Settings` object
is built once at the edge (CLI, server, test) and passed down; nothing reads it globally.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from convrec.errors import ConfigError


def _default_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convrec"


def offline_environment() -> None:
    """Make sure no library we use reaches for the internet (hub look-ups, telemetry)."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",  # chromadb's posthog client
        "TOKENIZERS_PARALLELISM": "false",
    }.items():
        os.environ.setdefault(key, value)


def _http_url(value: str | None, name: str) -> str | None:
    """An optional http(s) URL without its trailing slash; empty means unset."""
    if value in (None, ""):
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{name} must start with http:// or https://, got {value!r}")
    return value.rstrip("/")


class HnswSettings(BaseModel):
    """Chroma HNSW parameters. Defaults chosen by `bench/retrieval.py` (see README)."""

    space: Literal["cosine"] = "cosine"
    ef_construction: int = Field(200, ge=16)
    ef_search: int = Field(200, ge=10)
    max_neighbors: int = Field(32, ge=4)


class RankingSettings(BaseModel):
    """Ranking (`convrec train`, `load_ranker`). See docs/ranking.md."""

    model: str | None = Field(None, description="Model `convrec train` trains and serves; None = the default ranker.")
    engine: Literal["implicit", "spark"] = "implicit"
    spark_master: str = Field("local[*]", description="Spark master URL for --engine spark.")
    cold_tolerance: float = Field(
        0.03, ge=0.0, le=0.5, description="Share of validation NDCG@10 that may be traded for showing cold items."
    )
    tune: bool = Field(True, description="Choose hyperparameters on a validation split.")
    seed: int = 42



LLMModelName = Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b", "smollm2-135m"]
Quantization = Literal["auto", "nf4", "int8", "bf16", "fp16", "fp32"]
ConstrainedDecoder = Literal["xgrammar", "outlines", "lm-format-enforcer"]


class LLMSettings(BaseModel):
    """Which language model writes the structured preferences and the replies, and how.

    Defaults chosen by `bench/llm.py` (see docs/llm.md): `auto` means fp32 on CPU and
    bitsandbytes nf4 on CUDA; structured output is constrained by xgrammar; the system prompt's
    KV cache is reused and streamed replies use prompt-lookup decoding (both measured faster).
    """

    backend: Literal["local", "openai", "none"] = Field(
        "local", description="'local' (transformers in this process), 'openai' (a server by base_url) or 'none'."
    )
    model: LLMModelName = Field("qwen2.5-coder-0.5b", description="Packaged model for the local backend.")
    quantization: Quantization = Field("auto", description="Local weights: auto, nf4, int8, bf16, fp16 or fp32.")
    base_url: str | None = Field(None, description="OpenAI-compatible server, e.g. http://gpu-box:8000/v1.")
    api_key: str | None = Field(None, repr=False, description="Bearer token for the server, if it wants one.")
    model_name: str | None = Field(None, description="Model id at the server; None = the first it lists.")
    max_new_tokens: int = Field(256, ge=1, le=8192)
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 = greedy (reproducible).")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout for a server backend.")
    json_retries: int = Field(1, ge=0, le=5, description="Retries when an unconstrained backend's JSON is invalid.")
    decoder: ConstrainedDecoder = Field("xgrammar", description="Grammar-constrained decoding library (local).")
    prompt_cache: bool = Field(True, description="Reuse the system prompt's KV cache across calls (local).")
    prompt_lookup_tokens: int = Field(
        10, ge=0, le=64, description="Prompt-lookup decoding for streamed greedy text (local); 0 = off."
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; None = torch's default.")
    parse_with_llm: bool = Field(
        False,
        description="Ask the LLM when the rules leave words unexplained. Off by default: with the 0.5B "
        "model it added no facet F1 on the labeled sets (bench/parsing.py) and costs seconds on CPU.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return _http_url(value, "llm.base_url")


class Settings(BaseSettings):
    """convrec's settings. See the module docstring for where values come from."""

    model_config = SettingsConfigDict(
        env_prefix="CONVREC_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    home: Path = Field(default_factory=_default_home, description="Indexes, caches and models.")
    catalog: str = Field("movielens", description="Default catalog: a built-in name or a mapping TOML path.")
    catalogs: dict[str, str] = Field(
        default_factory=dict, description="Extra named catalogs: name -> mapping TOML path."
    )
    chroma_url: str | None = Field(None, description="http://host:port of a `chroma run` server.")
    device: str = Field("auto", description="'auto', 'cpu' or 'cuda[:N]'.")
    embed_batch_size: int = Field(64, ge=1, le=4096)
    hnsw: HnswSettings = Field(default_factory=HnswSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    skip_bad_rows: bool | None = Field(
        None, description="Skip and count malformed catalog rows; None = the catalog's own default."
    )
    ranking: RankingSettings = Field(default_factory=RankingSettings)

    @field_validator("chroma_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return _http_url(value, "chroma_url")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("CONVREC_CONFIG")
        if toml_path:
            if not Path(toml_path).is_file():
                raise ConfigError(f"CONVREC_CONFIG points to {toml_path}, which is not a file.")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        elif Path("convrec.toml").is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file="convrec.toml"))
        return tuple(sources)

    # Derived locations -------------------------------------------------------------------
    @property
    def index_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation problems into one clear `ConfigError`."""
    from pydantic import ValidationError

    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"Invalid setting {loc}: {msg}.") from None
