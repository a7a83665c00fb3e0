"""GPU measurements, on a CUDA machine: the packaged LLMs in bf16 and bitsandbytes nf4, their parse
quality on the labeled cases, and `convrec llm-serve` (the OpenAI-compatible server) under load.

    python bench/gpu.py                         # writes bench/results/gpu.json
    python bench/gpu.py --gguf-dir DIR          # models brought by hand as DIR/<name>.gguf
    python bench/gpu.py --parts formats server  # some parts only

Parts, each with every model in `--models`:
- `formats`: `bench/llm.py`'s `gpu_benchmark` (load time, decode tok/s, time to first token, peak
  GPU memory, one constrained JSON answer) for bf16 and nf4.
- `parsing`: `bench/parsing.py --llm` in a child process on CUDA with the CUDA default weights (nf4),
  so the rules + LLM facet F1 is measured with that model; its JSON lands next to gpu.json.
- `server`: `convrec llm-serve` in a child process, and convrec's own `openai` backend as the
  client, at 1, 4 and 16 concurrent clients (`--levels`); each client alternates a constrained
  preferences answer (up to 256 tokens, the backends' default) and a streamed 96-token reply.
  Latency is measured at the client. Each level is saved as soon as it is done, so a run cut short
  keeps the levels it finished.

A GPU box often has no package registry. `--gguf-dir` takes the GGUF files themselves
(`<model>.gguf`, checked against the packaged sha256) instead of the packages. Without CUDA this
script says so and writes nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from convrec.assets import llm_model_dir  # noqa: E402
from convrec.config import load_settings, offline_environment  # noqa: E402

RESULTS = REPO / "bench" / "results" / "gpu.json"
MODELS = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")
LEVELS = (1, 4, 16)
# The preferences schema has a free-text `query` (up to 80 characters): 96 tokens cut some answers off.
JSON_TOKENS = 256


def machine() -> dict[str, Any]:
    """`bench/llm.py`'s machine record, plus the GPU, CUDA, Python and bitsandbytes."""
    import torch
    from llm import machine as base_machine

    info: dict[str, Any] = {
        **base_machine(),
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0),
        "gpu_memory_gb": round(torch.cuda.get_device_properties(0).total_memory / 1e9, 1),
    }
    try:
        import bitsandbytes

        info["bitsandbytes"] = bitsandbytes.__version__
    except ImportError:
        info["bitsandbytes"] = None
    return info


def prepare(models: list[str], models_dir: Path, gguf_dir: Path | None) -> dict[str, float]:
    """Convert each model's GGUF to the cached safetensors folder once; seconds per model."""
    seconds = {}
    for name in models:
        gguf = gguf_dir / f"{name}.gguf" if gguf_dir else None
        started = time.perf_counter()
        llm_model_dir(name, models_dir, log=print, gguf=gguf)
        seconds[name] = round(time.perf_counter() - started, 2)
    return seconds


def formats(models: list[str], models_dir: Path) -> dict[str, Any]:
    from llm import gpu_benchmark

    return {name: gpu_benchmark(models_dir, model=name) for name in models}


def parsing(models: list[str], out_dir: Path, home: Path) -> dict[str, Any]:
    """bench/parsing.py --llm on CUDA for each model; the summary of each run."""
    results = {}
    for name in models:
        out = out_dir / f"parsing-{name}.json"
        env = {**os.environ, "CONVREC_HOME": str(home), "CONVREC_DEVICE": "cuda", "CONVREC_LLM__MODEL": name}
        started = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "bench" / "parsing.py"), "--llm", "--out", str(out)], env=env, check=True)
        data = json.loads(out.read_text())
        results[name] = {
            "seconds": round(time.perf_counter() - started, 1),
            "model": data.get("model"),
            "llm_calls": data.get("llm_calls"),
            "json_valid_rate": data.get("json_valid_rate"),
            "llm_s_p50": data.get("llm_s_p50"),
            "llm_s_p95": data.get("llm_s_p95"),
            "facet_f1_rules": [data["facet_f1"], data["facet_f1_heldout"], data["facet_f1_heldout2"]],
            "facet_f1_rules_llm": [data.get(f"facet_f1_rules_llm{s}") for s in ("", "_heldout", "_heldout2")],
            "variants_f1": {label: [v[s]["overall"]["f1"] for s in ("main", "heldout", "heldout2")]
                            for label, v in data.get("llm", {}).items()},
        }
        print(f"parsing {name}: {results[name]}", flush=True)
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, 100 * q)), 3) if values else None


def server(model: str, home: Path, requests_per_level: int = 32, device: str = "cuda",
           levels: tuple[int, ...] = LEVELS, on_level: Any = None) -> dict[str, Any]:
    """`convrec llm-serve` on `device`, loaded by each number of concurrent clients in `levels`;
    `on_level(result)` is called after each level."""
    from convrec.agent.llm_openai import OpenAIBackend
    from llm import PARSE_REQUESTS, PARSE_SYSTEM, PREFERENCE_SCHEMA, REPLY_SYSTEM, REPLY_USER

    port = _free_port()
    env = {**os.environ, "CONVREC_HOME": str(home), "CONVREC_DEVICE": device}
    cmd = [sys.executable, "-c", "from convrec.cli import app; app()", "llm-serve", "--port", str(port), "--model", model]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    try:
        base = f"http://127.0.0.1:{port}/v1"
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llm-serve exited with {proc.returncode}")
            try:
                urllib.request.urlopen(f"{base}/models", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        ready_s = time.perf_counter() - started
        client = OpenAIBackend(base, timeout_s=300.0)
        result: dict[str, Any] = {"model": model, "ready_s": round(ready_s, 2), "levels": {}}
        lock = threading.Lock()

        def one(i: int, rows: list[dict]) -> None:
            t0 = time.perf_counter()
            row: dict[str, Any] = {"kind": "json" if i % 2 == 0 else "reply"}
            try:
                if row["kind"] == "json":
                    messages = [{"role": "system", "content": PARSE_SYSTEM},
                                {"role": "user", "content": PARSE_REQUESTS[i % len(PARSE_REQUESTS)]}]
                    value = client.generate_json(messages, PREFERENCE_SCHEMA, max_tokens=JSON_TOKENS)
                    row["ok"] = isinstance(value, dict) and "include_genres" in value
                else:
                    messages = [{"role": "system", "content": REPLY_SYSTEM}, {"role": "user", "content": REPLY_USER}]
                    first = None
                    text = ""
                    for piece in client.stream(messages, max_tokens=96):
                        if first is None and piece:
                            first = time.perf_counter() - t0
                        text += piece
                    row["ok"] = bool(text.strip())
                    row["first_s"] = first
            except Exception as exc:  # noqa: BLE001 — an error is a result here, counted below
                row["ok"] = False
                row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            row["s"] = time.perf_counter() - t0
            with lock:
                rows.append(row)

        one(0, [])  # warm the server's CUDA kernels and prompt cache once
        one(1, [])
        for level in levels:
            rows: list[dict] = []
            t0 = time.perf_counter()
            with ThreadPoolExecutor(level) as pool:
                list(pool.map(lambda i: one(i, rows), range(max(requests_per_level, level))))
            wall = time.perf_counter() - t0
            by_kind = {kind: [r for r in rows if r["kind"] == kind] for kind in ("json", "reply")}
            result["levels"][str(level)] = {
                "requests": len(rows),
                "errors": sum(not r["ok"] for r in rows),
                "requests_per_s": round(len(rows) / wall, 3),
                "json_s_p50": _percentile([r["s"] for r in by_kind["json"]], 0.5),
                "json_s_p95": _percentile([r["s"] for r in by_kind["json"]], 0.95),
                "reply_s_p50": _percentile([r["s"] for r in by_kind["reply"]], 0.5),
                "reply_s_p95": _percentile([r["s"] for r in by_kind["reply"]], 0.95),
                "reply_first_token_s_p50": _percentile([r["first_s"] for r in by_kind["reply"] if r.get("first_s")], 0.5),
                "error_examples": [r["error"] for r in rows if "error" in r][:3],
            }
            print(f"server {model} x{level}: {result['levels'][str(level)]}", flush=True)
            if on_level:
                on_level(result)
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--parts", nargs="+", default=["formats", "parsing", "server"], choices=["formats", "parsing", "server"])
    ap.add_argument("--gguf-dir", type=Path, help="folder with <model>.gguf files, when the packages are not installed")
    ap.add_argument("--server-model", default=MODELS[0], choices=list(MODELS))
    ap.add_argument("--requests", type=int, default=32, help="requests per concurrency level (server)")
    ap.add_argument("--levels", type=int, nargs="+", default=list(LEVELS), help="concurrent clients (server)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    offline_environment()
    import torch

    if not torch.cuda.is_available():
        print("No CUDA device: bench/gpu.py measures nothing on this machine.")
        return 0
    settings = load_settings()
    home = settings.home
    # Keep what an earlier (partial) run measured, so the parts can run in separate calls.
    data: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    data.update(date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), machine=machine())
    data.setdefault("prepare_s", {}).update(prepare(args.models, settings.models_dir, args.gguf_dir))

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=args.out.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, indent=2, default=str) + "\n")
        os.replace(tmp, args.out)

    if "formats" in args.parts:
        data.setdefault("formats", {}).update(formats(args.models, settings.models_dir))
        save()
    if "parsing" in args.parts:
        data.setdefault("parsing", {}).update(parsing(args.models, args.out.parent, home))
        save()
    if "server" in args.parts:
        def keep(result: dict[str, Any]) -> None:
            data["server"] = result
            save()

        keep(server(args.server_model, home, args.requests, levels=tuple(args.levels), on_level=keep))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
