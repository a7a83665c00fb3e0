"""LLM measurements: CPU weight formats, decode speed against the memory-bandwidth bound,
time to first token, constrained-decoding libraries, and the known speed-ups.

Everything is measured on the real packaged models, side by side in one run and interleaved
(round-robin), so that the ratios hold even on a shared, noisy 2-core machine; absolute numbers are
only indicative there. `python bench/llm.py` writes bench/results/llm.json; `bench/agent.py`
imports the functions. With CUDA present, `gpu_benchmark()` measures the 1.5B model in bf16 and
bitsandbytes nf4; without it, it reports that it was skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from convrec.agent.constrained import DECODERS  # noqa: E402
from convrec.agent.llm import json_instruction, validate_json_text  # noqa: E402
from convrec.agent.llm_local import LocalBackend, weight_bytes  # noqa: E402
from convrec.config import load_settings, offline_environment  # noqa: E402
from convrec.errors import LLMError  # noqa: E402

CPU_SETTINGS = ("nf4", "int8", "bf16", "fp32")

# A parse-like structured task: the shape of what the agent asks for, over MovieLens facets.
PREFERENCE_SCHEMA: dict[str, Any] = {
    "title": "Preferences",
    "type": "object",
    "properties": {
        "query": {"type": "string", "maxLength": 80},
        "include_genres": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        "exclude_genres": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
        "year_min": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "year_max": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    },
    "required": ["query", "include_genres", "exclude_genres", "year_min", "year_max"],
}
PARSE_SYSTEM = (
    "You turn a movie request into search preferences. Genres: Action, Adventure, Animation, Children's, "
    "Comedy, Crime, Documentary, Drama, Fantasy, Film-Noir, Horror, Musical, Mystery, Romance, Sci-Fi, "
    "Thriller, War, Western. Years are four digits."
)
PARSE_REQUESTS = (
    "a funny sci-fi movie from the 90s",
    "something romantic but not a musical",
    "dark crime thrillers made before 1980",
    "an animated film for my kids",
    "a western or a war movie, nothing after 1970",
    "I want a scary horror movie",
)
REPLY_SYSTEM = (
    "You recommend movies from the candidate list only. For each pick write its title and one short "
    "reason drawn from its facts."
)
REPLY_USER = (
    "Request: light-hearted space adventure.\nCandidates:\n"
    "1. Star Wars (1977) — Action, Adventure, Romance, Sci-Fi, War; liked by people who liked Raiders of the Lost Ark.\n"
    "2. Spaceballs (1987) — Comedy, Sci-Fi; a parody of Star Wars.\n"
    "3. Galaxy Quest (1999) — Adventure, Comedy, Sci-Fi; a crew of actors in a real space battle.\n"
    "Write the reply."
)


# --- primitives ----------------------------------------------------------------------------------


class TokenClock:
    """A transformers streamer that timestamps every batch of tokens `generate()` emits."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.counts: list[int] = []

    def put(self, value: Any) -> None:
        self.times.append(time.perf_counter())
        self.cpu.append(time.process_time())  # all threads of this process
        self.counts.append(int(value.numel()))

    def end(self) -> None:
        pass

    def summary(self, started: float) -> dict[str, float]:
        """Prefill time (to the first generated token) and decode tokens/s after it."""
        # times[0] is the prompt, times[1] the first new token.
        if len(self.times) < 3:
            raise RuntimeError("too few tokens to time decoding")
        decoded = sum(self.counts[2:])
        return {
            "first_token_s": self.times[1] - started,
            "decode_tok_s": decoded / (self.times[-1] - self.times[1]),
            # CPU seconds per token barely depend on how busy the machine is, unlike wall time.
            "cpu_s_per_token": (self.cpu[-1] - self.cpu[1]) / decoded,
            "new_tokens": float(sum(self.counts[1:])),
        }


def timed_generate(
    backend: LocalBackend, messages: list[dict], n_tokens: int, *, fixed_length: bool = True, **extra: Any
) -> dict[str, float]:
    """One greedy generation on `backend`'s model with a token clock (no prompt cache)."""
    ids = backend.prompt_ids(messages)
    kwargs = backend._generate_kwargs(ids, None, n_tokens)
    if fixed_length:  # same work for every setting, whatever the text says
        kwargs["min_new_tokens"] = n_tokens
    clock = TokenClock()
    started = time.perf_counter()
    out = backend.model.generate(**kwargs, streamer=clock, **extra)
    result = clock.summary(started)
    result["text"] = backend.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)  # type: ignore[assignment]
    return result


def memory_bandwidth_gbs(megabytes: int = 512, repeats: int = 5) -> float:
    """Best observed copy bandwidth (bytes read + written per second, GB/s) of a large numpy copy."""
    src = np.ones(megabytes * (1 << 20) // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault the pages in first
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        np.copyto(dst, src)
        best = max(best, 2 * src.nbytes / (time.perf_counter() - started))
    return best / 1e9


def bandwidth_bound_tok_s(model: Any, bandwidth_gbs: float) -> float:
    """Tokens/s if decoding did nothing but stream the weights once per token at `bandwidth_gbs`."""
    return bandwidth_gbs * 1e9 / weight_bytes(model)


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _round(value: Any, digits: int = 3) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    return value


# --- measurements --------------------------------------------------------------------------------


def cpu_quantization(
    models_dir: Path,
    settings: Sequence[str] = CPU_SETTINGS,
    model: str = "qwen2.5-coder-0.5b",
    n_tokens: int = 32,
    rounds: int = 3,
    bandwidth_gbs: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Decode tokens/s of each CPU weight format on the real model, measured round-robin.

    All formats are loaded at once (a few GB for the 0.5B model) so that each round measures every
    format under the same machine load. Also records load time, bytes of weights per token, the
    bandwidth bound when `bandwidth_gbs` is given, and whether the greedy text matches nf4's.
    """
    backends: dict[str, LocalBackend] = {}
    load_s: dict[str, float] = {}
    for setting in settings:
        started = time.perf_counter()
        backends[setting] = LocalBackend.load(model, models_dir=models_dir, quantization=setting, device="cpu")
        load_s[setting] = time.perf_counter() - started
        log(f"  loaded {setting} in {load_s[setting]:.1f}s")
    messages = [{"role": "system", "content": PARSE_SYSTEM}, {"role": "user", "content": PARSE_REQUESTS[0]}]
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in settings}
    for r in range(rounds):
        for setting in settings:
            runs[setting].append(timed_generate(backends[setting], messages, n_tokens))
            log(f"  round {r + 1}: {setting} {runs[setting][-1]['decode_tok_s']:.2f} tok/s")
    reference = runs[settings[0]][0]["text"]
    table: dict[str, dict[str, Any]] = {}
    for setting in settings:
        wb = weight_bytes(backends[setting].model)
        row = {
            "decode_tok_s": _median([x["decode_tok_s"] for x in runs[setting]]),
            "cpu_s_per_token": _median([x["cpu_s_per_token"] for x in runs[setting]]),
            "first_token_s": _median([x["first_token_s"] for x in runs[setting]]),
            "load_s": load_s[setting],
            "weight_mb_per_token": wb / 1e6,
            "same_text_as_" + settings[0]: runs[setting][0]["text"] == reference,
            "text": runs[setting][0]["text"],
        }
        if bandwidth_gbs:
            row["bandwidth_bound_tok_s"] = bandwidth_gbs * 1e9 / wb
            row["ratio_to_bound"] = row["decode_tok_s"] / row["bandwidth_bound_tok_s"]
        table[setting] = row
    del backends
    return table


def decode_and_first_token(backend: LocalBackend, bandwidth_gbs: float, n_tokens: int = 48, rounds: int = 3) -> dict[str, Any]:
    """The default backend's decode tokens/s next to the bandwidth bound, and time to first token
    as a user sees it (first text delta from `stream` with the backend's own options)."""
    messages = [{"role": "system", "content": REPLY_SYSTEM}, {"role": "user", "content": REPLY_USER}]
    runs = [timed_generate(backend, messages, n_tokens) for _ in range(rounds)]
    decode = [r["decode_tok_s"] for r in runs]
    first: list[float] = []
    for _ in range(rounds + 1):
        started = time.perf_counter()
        stream = backend.stream(messages, max_tokens=8)
        next(stream)
        first.append(time.perf_counter() - started)
        stream.close()
    bound = bandwidth_bound_tok_s(backend.model, bandwidth_gbs)
    return {
        "model": backend.name,
        "decode_tok_s": _median(decode),
        "cpu_s_per_token": _median([r["cpu_s_per_token"] for r in runs]),
        "bandwidth_gbs": bandwidth_gbs,
        "weight_mb_per_token": weight_bytes(backend.model) / 1e6,
        "bandwidth_bound_tok_s": bound,
        "ratio_to_bound": _median(decode) / bound,
        "first_token_s_p50": _median(first[1:]),  # the first call may also fill the prompt cache
        "first_token_s_cold": first[0],
        "prompt_tokens": int(backend.prompt_ids(messages).shape[1]),
    }


def constrained_decoders(
    backend: LocalBackend,
    decoders: Sequence[str] = DECODERS,
    requests: Sequence[str] = PARSE_REQUESTS,
    max_tokens: int = 96,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Time per structured generation and validity for each library (interleaved per request),
    plus unconstrained generation with the schema in the prompt as the baseline."""
    variants = {name: backend.variant(decoder=name, prompt_cache=False) for name in decoders}
    setup: dict[str, float] = {}
    for name, variant in variants.items():
        started = time.perf_counter()
        variant.constrained_decoder()
        setup[name] = time.perf_counter() - started
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in [*decoders, "unconstrained"]}
    for text in requests:
        messages = [{"role": "system", "content": PARSE_SYSTEM}, {"role": "user", "content": text}]
        for name, variant in variants.items():
            started = time.perf_counter()
            try:
                value = variant.generate_json(messages, PREFERENCE_SCHEMA, max_tokens=max_tokens)
                ok, out = True, value
            except LLMError as exc:
                ok, out = False, str(exc)
            results[name].append({"s": time.perf_counter() - started, "valid": ok, "out": out})
            log(f"  {name:<19} {results[name][-1]['s']:6.2f}s valid={ok} {text!r}")
        plain = [
            {"role": "system", "content": PARSE_SYSTEM + "\n" + json_instruction(PREFERENCE_SCHEMA)},
            {"role": "user", "content": text},
        ]
        started = time.perf_counter()
        answer = "".join(backend.variant(prompt_cache=False).stream(plain, max_tokens=max_tokens))
        try:
            value, ok = validate_json_text(answer, PREFERENCE_SCHEMA, "model"), True
        except LLMError:
            value, ok = answer, False
        results["unconstrained"].append({"s": time.perf_counter() - started, "valid": ok, "out": value})
        log(f"  {'unconstrained':<19} {results['unconstrained'][-1]['s']:6.2f}s valid={ok}")
    table: dict[str, dict[str, Any]] = {}
    for name, rows in results.items():
        table[name] = {
            "setup_s": setup.get(name, 0.0),
            "s_per_generation_p50": _median([r["s"] for r in rows]),
            "valid_rate": sum(r["valid"] for r in rows) / len(rows),
            "cases": len(rows),
            "example": rows[0]["out"],
        }
    return table


def decoder_overhead(
    backend: LocalBackend, decoders: Sequence[str] = DECODERS, repeats: int = 3
) -> dict[str, dict[str, float]]:
    """Milliseconds each library adds per generated token, measured without the model: its logits
    processor is fed the tokens of a fixed valid answer, with dummy logits. Unlike whole
    generations this barely depends on machine load, so it separates the libraries cleanly."""
    import torch
    from transformers import LogitsProcessorList, PrefixConstrainedLogitsProcessor

    answer = json.dumps(
        {"query": "funny sci-fi", "include_genres": ["Comedy", "Sci-Fi"], "exclude_genres": [],
         "year_min": 1990, "year_max": 1999},
    )  # json.dumps' default separators, as xgrammar's compact mode writes them
    tokens = backend.tokenizer(answer, add_special_tokens=False)["input_ids"]
    prompt = backend.prompt_ids([{"role": "user", "content": "x"}])[0].tolist()
    vocab = int(backend.model.config.vocab_size)
    table: dict[str, dict[str, float]] = {}
    for name in decoders:
        decoder = backend.variant(decoder=name).constrained_decoder()
        best = float("inf")
        for _ in range(repeats):
            kwargs = decoder.generate_kwargs(PREFERENCE_SCHEMA)
            if "prefix_allowed_tokens_fn" in kwargs:
                processors = LogitsProcessorList([PrefixConstrainedLogitsProcessor(kwargs["prefix_allowed_tokens_fn"], 1)])
            else:
                processors = LogitsProcessorList(kwargs["logits_processor"])
            elapsed = 0.0
            for i in range(len(tokens) + 1):
                ids = torch.tensor([prompt + tokens[:i]])
                scores = torch.zeros((1, vocab))
                started = time.perf_counter()
                scores = processors(ids, scores)
                elapsed += time.perf_counter() - started
                if i < len(tokens) and not torch.isfinite(scores[0, tokens[i]]):
                    raise RuntimeError(f"{name} rejected a valid answer at token {i}")
            best = min(best, elapsed)
        table[name] = {"ms_per_token": 1000 * best / (len(tokens) + 1), "answer_tokens": float(len(tokens))}
    return table


def prompt_cache_effect(backend: LocalBackend, rounds: int = 3) -> dict[str, Any]:
    """Time to first streamed delta with and without reusing the system prompt's KV cache."""
    # Prompt lookup off: with it on, a streamed reply never starts from the cached system prompt.
    on = backend.variant(prompt_cache=True, prompt_lookup_tokens=0)
    off = backend.variant(prompt_cache=False, prompt_lookup_tokens=0)
    system = PARSE_SYSTEM + " " + REPLY_SYSTEM
    list(on.stream([{"role": "system", "content": system}, {"role": "user", "content": "hello"}], max_tokens=2))
    times: dict[str, list[float]] = {"cached": [], "uncached": []}
    for r in range(rounds):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": PARSE_REQUESTS[r % len(PARSE_REQUESTS)]}]
        for label, variant in (("cached", on), ("uncached", off)):
            started = time.perf_counter()
            stream = variant.stream(messages, max_tokens=4)
            next(stream)
            times[label].append(time.perf_counter() - started)
            stream.close()
    system_tokens = len(backend.tokenizer(system)["input_ids"])
    cached, uncached = _median(times["cached"]), _median(times["uncached"])
    return {"system_prompt_tokens": system_tokens, "first_token_s_cached": cached,
            "first_token_s_uncached": uncached, "speedup": uncached / cached}


def prompt_lookup_effect(backend: LocalBackend, n_tokens: int = 64, lookup: int = 10, rounds: int = 2) -> dict[str, Any]:
    """Decode tokens/s of a grounded reply (which copies titles from the prompt) with and without
    prompt-lookup decoding; greedy, so the text must not change."""
    messages = [{"role": "system", "content": REPLY_SYSTEM}, {"role": "user", "content": REPLY_USER}]
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for _ in range(rounds):
        runs["off"].append(timed_generate(backend, messages, n_tokens, fixed_length=False))
        runs["on"].append(
            timed_generate(backend, messages, n_tokens, fixed_length=False, prompt_lookup_num_tokens=lookup)
        )
    off = _median([r["decode_tok_s"] for r in runs["off"]])
    on = _median([r["decode_tok_s"] for r in runs["on"]])
    return {"prompt_lookup_num_tokens": lookup, "decode_tok_s_off": off, "decode_tok_s_on": on,
            "speedup": on / off, "same_text": runs["on"][0]["text"] == runs["off"][0]["text"]}


def continuous_batching_effect(backend: LocalBackend, n_requests: int = 4, n_tokens: int = 48, rounds: int = 2) -> dict[str, Any]:
    """Tokens/s for `n_requests` grounded replies asked at once: one after another (what the local
    backend does: one lock serialises generations) against transformers' continuous batching
    (`generate_batch` with paged attention), round-robin; greedy both, so every text must match."""
    import torch
    from transformers import GenerationConfig

    model, tok = backend.model, backend.tokenizer
    prompts = []
    for i in range(n_requests):
        request = PARSE_REQUESTS[i % len(PARSE_REQUESTS)]
        user = REPLY_USER.replace("light-hearted space adventure", request)
        prompts.append(backend.prompt_ids([{"role": "system", "content": REPLY_SYSTEM}, {"role": "user", "content": user}]))
    config = GenerationConfig(max_new_tokens=n_tokens, do_sample=False, eos_token_id=sorted(backend.stop_token_ids),
                              pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    runs: dict[str, list[float]] = {"sequential": [], "batched": []}
    texts: dict[str, list[str]] = {}
    previous = model.config._attn_implementation
    for _ in range(rounds):
        started, n, out_texts = time.perf_counter(), 0, []
        with torch.inference_mode():
            for ids in prompts:
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), generation_config=config)
                n += out.shape[1] - ids.shape[1]
                out_texts.append(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
        runs["sequential"].append(n / (time.perf_counter() - started))
        texts["sequential"] = out_texts
        model.set_attn_implementation("paged|" + previous)
        try:
            started = time.perf_counter()
            with torch.inference_mode():
                outs = model.generate_batch([ids[0].tolist() for ids in prompts], generation_config=config, progress_bar=False)
            elapsed = time.perf_counter() - started
        finally:
            model.set_attn_implementation(previous)
        ordered = [outs[k] for k in sorted(outs, key=lambda k: int(str(k).rsplit("_", 1)[-1]))]
        runs["batched"].append(sum(len(o.generated_tokens) for o in ordered) / elapsed)
        texts["batched"] = [tok.decode(o.generated_tokens, skip_special_tokens=True) for o in ordered]
    seq, batched = _median(runs["sequential"]), _median(runs["batched"])
    return {"requests": n_requests, "max_new_tokens": n_tokens, "tok_s_sequential": seq, "tok_s_batched": batched,
            "speedup": batched / seq, "same_text": sorted(texts["batched"]) == sorted(texts["sequential"])}


def prompt_length_effect(backend: LocalBackend, rounds: int = 2) -> dict[str, Any]:
    """Prefill time against prompt length (what a shorter prompt saves per uncached call)."""
    filler = " Answer briefly and only from the facts you are given; never invent titles."
    lengths: dict[str, dict[str, float]] = {}
    for repeat in (0, 6, 24):
        messages = [{"role": "system", "content": PARSE_SYSTEM + filler * repeat},
                    {"role": "user", "content": PARSE_REQUESTS[0]}]
        tokens = int(backend.prompt_ids(messages).shape[1])
        first = [timed_generate(backend, messages, 3)["first_token_s"] for _ in range(rounds)]
        lengths[str(tokens)] = {"prompt_tokens": tokens, "first_token_s": _median(first)}
    points = sorted(lengths.values(), key=lambda p: p["prompt_tokens"])
    slope = (points[-1]["first_token_s"] - points[0]["first_token_s"]) / (
        points[-1]["prompt_tokens"] - points[0]["prompt_tokens"]
    )
    return {"points": points, "s_per_100_prompt_tokens": slope * 100}


def gpu_benchmark(models_dir: Path, model: str = "qwen2.5-coder-1.5b", log: Callable[[str], None] = print) -> dict[str, Any]:
    """On CUDA: the 1.5B model in bf16 and bitsandbytes nf4 — decode tok/s, time to first token,
    bandwidth bound and one structured generation each. Skipped cleanly without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    results: dict[str, Any] = {"device": torch.cuda.get_device_name(0), "model": model}
    messages = [{"role": "system", "content": REPLY_SYSTEM}, {"role": "user", "content": REPLY_USER}]
    parse = [{"role": "system", "content": PARSE_SYSTEM}, {"role": "user", "content": PARSE_REQUESTS[0]}]
    for setting in ("bf16", "nf4"):
        started = time.perf_counter()
        backend = LocalBackend.load(model, models_dir=models_dir, quantization=setting, device="cuda")
        load_s = time.perf_counter() - started
        timed_generate(backend, messages, 8)  # CUDA kernels warm up on the first call
        runs = [timed_generate(backend, messages, 128) for _ in range(3)]
        started = time.perf_counter()
        value = backend.generate_json(parse, PREFERENCE_SCHEMA, max_tokens=96)
        json_s = time.perf_counter() - started
        # GPU memory bandwidth is not measured here; report the weight bytes streamed per token.
        results[setting] = {
            "load_s": load_s,
            "decode_tok_s": _median([r["decode_tok_s"] for r in runs]),
            "first_token_s": _median([r["first_token_s"] for r in runs]),
            "weight_mb_per_token": weight_bytes(backend.model) / 1e6,
            "json_s": json_s,
            "json_example": value,
            "max_memory_mb": torch.cuda.max_memory_allocated() / 1e6,
        }
        log(f"  cuda {setting}: {results[setting]['decode_tok_s']:.1f} tok/s")
        del backend
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return results


def machine() -> dict[str, Any]:
    import torch
    import transformers

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _run(run: dict[str, Any] | None) -> str:
    if not run:
        return "run details not recorded"
    load = run.get("load_average")
    return (
        f"{run['rounds']} rounds of {run['tokens']} tokens, {run['date']}, "
        f"load average {load[0]:.1f} on {os.cpu_count()} cores" if load else f"{run['rounds']} rounds of {run['tokens']} tokens"
    )


def markdown(data: dict[str, Any]) -> str:
    """The README tables for bench/results/llm.json (for bench/readme_tables.py: `RENDERERS["llm"]`)."""
    out: list[str] = []
    quant = data.get("cpu_quantization") or {}
    if quant:
        first = next(iter(quant))
        out += [
            f"CPU weight formats, Qwen2.5-Coder-0.5B-Instruct, greedy, measured round-robin in one run "
            f"({_run(data.get('cpu_quantization_run'))}; memory copy bandwidth "
            f"{_f((data.get('cpu_quantization_run') or data).get('bandwidth_gbs'))} GB/s):",
            "",
            f"| format | decode tok/s | × {first} | CPU s per token | first token (s) | weights read per token (MB) | "
            f"bandwidth bound (tok/s) | ÷ bound | load (s) | same text as {first} |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        base = quant[first]["decode_tok_s"]
        for name, row in quant.items():
            out.append(
                f"| {name} | {_f(row['decode_tok_s'])} | {_f(row['decode_tok_s'] / base)} | {_f(row.get('cpu_s_per_token'))} | "
                f"{_f(row['first_token_s'])} | "
                f"{_f(row['weight_mb_per_token'], 4)} | {_f(row.get('bandwidth_bound_tok_s'))} | "
                f"{_f(row.get('ratio_to_bound'))} | {_f(row['load_s'])} | {_f(row['same_text_as_' + first])} |"
            )
        out.append("")
    default = data.get("default")
    if default:
        out += [
            f"Default backend `{default['model']}`: decode {_f(default['decode_tok_s'])} tok/s against a "
            f"bandwidth bound of {_f(default['bandwidth_bound_tok_s'])} tok/s (ratio {_f(default['ratio_to_bound'])}); "
            f"first streamed text after {_f(default['first_token_s_p50'])} s (p50 of repeated calls; "
            f"{_f(default['first_token_s_cold'])} s for the first) for a {default['prompt_tokens']}-token reply prompt, "
            f"with the default options (prompt lookup on).",
            "",
        ]
    decoders = data.get("constrained_decoding") or {}
    overhead = data.get("decoder_overhead") or {}
    if decoders:
        out += [
            "Constrained decoding (same model, same requests, interleaved; a preferences schema). "
            "Overhead = milliseconds the library adds per token, timed on its own:",
            "",
            "| library | s per structured generation (p50) | valid JSON | one-time set-up (s) | overhead (ms/token) |",
            "|---|---|---|---|---|",
        ]
        for name, row in decoders.items():
            extra = overhead.get(name, {}).get("ms_per_token")
            out.append(
                f"| {name} | {_f(row['s_per_generation_p50'])} | {row['valid_rate']:.0%} of {row['cases']} | "
                f"{_f(row['setup_s'])} | {_f(extra)} |"
            )
        out.append("")
    speed = data.get("speedups") or {}
    batching = data.get("batching") or {}
    if speed:
        cache, lookup, length = speed.get("prompt_cache", {}), speed.get("prompt_lookup", {}), speed.get("prompt_length", {})
        out += ["| speed-up | without | with | ratio | kept |", "|---|---|---|---|---|"]
        if cache:
            out.append(
                f"| reuse the system prompt's KV cache ({cache['system_prompt_tokens']} tokens): first token (s) | "
                f"{_f(cache['first_token_s_uncached'])} | {_f(cache['first_token_s_cached'])} | "
                f"{_f(cache['speedup'])}× | {'yes' if cache['speedup'] > 1.05 else 'no'} |"
            )
        if lookup:
            out.append(
                f"| prompt-lookup decoding ({lookup['prompt_lookup_num_tokens']} tokens) on a grounded reply: decode tok/s | "
                f"{_f(lookup['decode_tok_s_off'])} | {_f(lookup['decode_tok_s_on'])} | {_f(lookup['speedup'])}× "
                f"(same text: {_f(lookup['same_text'])}) | {'yes' if lookup['speedup'] > 1.05 and lookup['same_text'] else 'no'} |"
            )
        if length:
            pts = length["points"]
            out.append(
                f"| shorter prompt: first token (s) at {pts[-1]['prompt_tokens']} vs {pts[0]['prompt_tokens']} tokens | "
                f"{_f(pts[-1]['first_token_s'])} | {_f(pts[0]['first_token_s'])} | "
                f"{_f(pts[-1]['first_token_s'] / pts[0]['first_token_s'])}× | "
                f"{_f(length['s_per_100_prompt_tokens'])} s per 100 prompt tokens |"
            )
        if batching:
            out.append(
                f"| continuous batching (transformers `generate_batch`) of {batching['requests']} replies asked at once: "
                f"tokens/s | {_f(batching['tok_s_sequential'])} | {_f(batching['tok_s_batched'])} | "
                f"{_f(batching['speedup'])}× (same text: {_f(batching['same_text'])}) | no: generations are serialised |"
            )
        out.append("")
    gpu = data.get("gpu") or {}
    if gpu.get("skipped"):
        out.append(f"GPU (1.5B, bf16 vs nf4): skipped ({gpu['skipped']}).")
    elif gpu:
        out += [f"GPU {gpu['device']}, {gpu['model']}:", "", "| format | decode tok/s | first token (s) | JSON (s) | peak MB |", "|---|---|---|---|---|"]
        for name in ("bf16", "nf4"):
            row = gpu[name]
            out.append(f"| {name} | {_f(row['decode_tok_s'])} | {_f(row['first_token_s'])} | {_f(row['json_s'])} | {_f(row['max_memory_mb'], 5)} |")
    machine = data.get("machine", {})
    load = machine.get("load_average") or []
    out += ["", f"Machine: {machine.get('processor')}, {machine.get('cpu_count')} cores, torch {machine.get('torch')}, "
            f"transformers {machine.get('transformers')}; last run {data.get('date')} (load average "
            f"{', '.join(f'{x:.1f}' for x in load)}). Sections may come from separate runs "
            f"(`--update`); compare rows within a table. Command: `python bench/llm.py`."]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=None, help="model cache (default: settings.models_dir)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "llm.json")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions per measurement")
    parser.add_argument("--tokens", type=int, default=32, help="tokens per timed generation")
    parser.add_argument("--requests", type=int, default=len(PARSE_REQUESTS), help="structured requests per decoder")
    parser.add_argument("--skip", nargs="*", default=[], help="parts to skip: quantization default overhead decoders speedups batching gpu")
    parser.add_argument("--render", action="store_true", help="print the markdown tables of --out and exit")
    parser.add_argument("--update", action="store_true", help="keep the sections of --out that this run skips")
    args = parser.parse_args(argv)
    if args.render:
        data = json.loads(args.out.read_text())
        print(markdown(data))
        return data
    offline_environment()
    warnings.filterwarnings("ignore", message="MatMul8bitLt")  # bitsandbytes int8 says it on every layer call
    models_dir = args.models_dir or load_settings().models_dir
    results: dict[str, Any] = {}
    if args.update and args.out.exists():  # keep the sections this run skips
        results = json.loads(args.out.read_text())
    results.update(
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        machine=machine(),
        options={"rounds": args.rounds, "tokens": args.tokens, "requests": args.requests},
    )
    started = time.perf_counter()

    def save() -> None:  # after every section, so a long run that is stopped keeps what it measured
        results["machine"]["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        results["bench_s"] = time.perf_counter() - started
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(_round(results), indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, args.out)

    results["bandwidth_gbs"] = memory_bandwidth_gbs()
    print(f"memory bandwidth (numpy copy): {results['bandwidth_gbs']:.1f} GB/s")
    if "quantization" not in args.skip:
        print("CPU weight formats (round-robin):")
        results["cpu_quantization"] = cpu_quantization(
            models_dir, n_tokens=args.tokens, rounds=args.rounds, bandwidth_gbs=results["bandwidth_gbs"]
        )
        results["cpu_quantization_tok_s"] = {k: v["decode_tok_s"] for k, v in results["cpu_quantization"].items()}
        results["cpu_quantization_run"] = {
            "tokens": args.tokens,
            "rounds": args.rounds,
            "date": results["date"],
            "load_average": results["machine"]["load_average"],
            "bandwidth_gbs": results["bandwidth_gbs"],
        }
        save()
    backend = LocalBackend.load(models_dir=models_dir, quantization="auto", device="cpu")
    print(f"default backend: {backend.name}")
    if "default" not in args.skip:
        results["default"] = decode_and_first_token(
            backend, results["bandwidth_gbs"], n_tokens=args.tokens, rounds=args.rounds
        )
        print(json.dumps(_round(results["default"]), indent=1))
        save()
    if "overhead" not in args.skip:
        results["decoder_overhead"] = decoder_overhead(backend)
        print("constrained decoder overhead:", json.dumps(_round(results["decoder_overhead"])))
        save()
    if "decoders" not in args.skip:
        print("constrained decoding:")
        results["constrained_decoding"] = constrained_decoders(backend, requests=PARSE_REQUESTS[: args.requests])
        save()
    if "speedups" not in args.skip:
        print("speed-ups:")
        results["speedups"] = {
            "prompt_cache": prompt_cache_effect(backend, rounds=args.rounds),
            "prompt_lookup": prompt_lookup_effect(backend, n_tokens=2 * args.tokens, rounds=args.rounds),
            "prompt_length": prompt_length_effect(backend, rounds=args.rounds),
        }
        print(json.dumps(_round(results["speedups"]), indent=1))
        save()
    if "batching" not in args.skip:
        print("continuous batching:")
        results["batching"] = continuous_batching_effect(backend, n_tokens=args.tokens + 16, rounds=max(1, args.rounds - 1))
        print(json.dumps(_round(results["batching"]), indent=1))
        save()
    if "gpu" not in args.skip:
        results["gpu"] = gpu_benchmark(models_dir)
    save()
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
