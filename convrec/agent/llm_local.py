"""A packaged chat model run with transformers in this process.

Weights: bitsandbytes nf4 on CUDA; on CPU the format whole turns measured fastest in (fp32, see
docs/llm.md), or nf4 / int8 / bf16 / fp16 on request.

Thread safety: one loaded model is shared by every session. `generate()` is not re-entrant on a
shared model and a 2-core CPU gains nothing from running two generations at once, so a lock
serialises them: concurrent callers queue (a streamed reply holds the lock until it finishes or
its consumer stops reading, which cancels the generation at the next token).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from convrec.agent.constrained import ConstrainedDecoder, make_decoder
from convrec.agent.llm import ChatMessage, check_messages, cut_at_stops, validate_json_text
from convrec.assets import DEFAULT_LLM, MODEL_MARK, llm_model_dir, publish_dir
from convrec.errors import LLMError


def _cache_argument() -> str:
    """generate()'s name for a prompt cache: transformers 5.24 renamed `past_key_values` to `cache`
    (the old name warns, and goes in 6)."""
    import transformers
    from packaging.version import Version

    return "cache" if Version(transformers.__version__) >= Version("5.24") else "past_key_values"


# Chosen by measurement on the 2-core CPU (bench/agent.py, one run, quiet machine; docs/llm.md):
# bf16 decodes fastest on its own (13.1 tokens/s vs fp32 7.0, nf4 3.2, int8 3.1), but a reply's
# real work also includes the prompt's prefill and prompt-lookup verification, which are
# compute-bound and slow in bf16 on a CPU without bf16 matrix units: whole turns took about 2.3x
# longer in bf16 than in fp32. nf4 and int8 are slower than both.
CPU_DEFAULT_QUANTIZATION = "fp32"
CUDA_DEFAULT_QUANTIZATION = "nf4"
QUANTIZATIONS = ("nf4", "int8", "bf16", "fp16", "fp32")


def resolve_quantization(quantization: str, device: str) -> str:
    """The concrete weight format for `quantization` ('auto' or one of QUANTIZATIONS) on `device`."""
    if quantization == "auto":
        return CUDA_DEFAULT_QUANTIZATION if device.startswith("cuda") else CPU_DEFAULT_QUANTIZATION
    if quantization not in QUANTIZATIONS:
        raise LLMError(f"Unknown quantization {quantization!r}; use auto or one of {', '.join(QUANTIZATIONS)}.")
    return quantization


def load_model(path: Path, quantization: str, device: str) -> Any:
    """Load a cached safetensors model folder in the given weight format on `device`."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    on_cuda = device.startswith("cuda")
    kwargs: dict[str, Any] = {"device_map": device}
    if quantization in ("nf4", "fp32") and not on_cuda:
        # Quantizing (nf4) or up-casting (fp32) at every start costs seconds to most of a minute
        # on a CPU; a saved copy in the final format memory-maps in about a second.
        path = _cpu_copy(path, quantization)
        kwargs["dtype"] = torch.float32
    elif quantization == "nf4":  # on CUDA, where bf16 is the native compute type
        kwargs["quantization_config"] = nf4_config(torch.bfloat16)
        kwargs["dtype"] = torch.bfloat16
    elif quantization == "int8":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["dtype"] = torch.float16 if on_cuda else torch.float32
    else:
        kwargs["dtype"] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[quantization]
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (ImportError, RuntimeError, AssertionError) as exc:
        raise LLMError(f"Could not load {path.name} as {quantization} on {device}: {exc}.") from None
    model.eval()
    return model


def nf4_config(compute_dtype: Any) -> Any:
    """bitsandbytes 4-bit NormalFloat weights computing in `compute_dtype`."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype)


def _cpu_copy(path: Path, quantization: str) -> Path:
    """A CPU copy of the model folder `path` in `quantization` ("nf4" or "fp32"), converted and
    saved once beside it (written to a temporary folder, then renamed)."""
    import tempfile

    import torch
    from transformers import AutoModelForCausalLM

    target = path.with_name(f"{path.name}-{quantization}-cpu")
    mark = (path / MODEL_MARK).read_text()

    def complete(folder: Path) -> bool:  # made from this very source copy
        return (folder / MODEL_MARK).is_file() and (folder / MODEL_MARK).read_text() == mark

    if complete(target):
        return target
    kwargs: dict[str, Any] = {"dtype": torch.float32, "device_map": "cpu"}
    if quantization == "nf4":  # CPU kernels compute fastest in fp32
        kwargs["quantization_config"] = nf4_config(torch.float32)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (ImportError, RuntimeError, AssertionError) as exc:
        raise LLMError(f"Could not convert {path.name} to {quantization} on the CPU: {exc}.") from None
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".build-{target.name}-") as tmp:
        out = Path(tmp) / "model"
        model.save_pretrained(out)
        (out / MODEL_MARK).write_text(mark)  # written last: marks the copy complete
        return publish_dir(out, target, Path(tmp), complete)


class _Cancelled:
    """A stopping criterion that ends generation once its event is set (a reader went away)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class LocalBackend:
    """`LLMBackend` over a transformers model in this process (see the module docstring).

    Build with `LocalBackend.load(...)` (or `make_backend(settings)`); the constructor takes an
    already loaded model and tokenizer. Options:

    - `decoder`: grammar-constrained decoding library for `generate_json`.
    - `prompt_cache`: keep the KV cache of recent system prompts and start each call from a copy,
      so a long fixed system prompt is computed once, not on every turn.
    - `prompt_lookup_tokens`: prompt-lookup decoding for `stream` (drafts tokens by matching
      n-grams of the prompt; helps when replies copy from the prompt). 0 = off. A streamed reply
      with prompt lookup does not start from the cached system prompt (see `stream`).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        decoder: str = "xgrammar",
        temperature: float = 0.0,
        prompt_cache: bool = True,
        prompt_lookup_tokens: int = 10,
        prompt_cache_size: int = 4,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.decoder = decoder
        self.temperature = temperature
        self.prompt_cache = prompt_cache
        self.prompt_lookup_tokens = prompt_lookup_tokens
        self.prompt_cache_size = prompt_cache_size
        self._lock = threading.RLock()
        self._decoders: dict[str, ConstrainedDecoder] = {}
        self._prefixes: OrderedDict[str, tuple[list[int], Any]] = OrderedDict()
        self.stop_token_ids = self._stop_token_ids()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        model: str = DEFAULT_LLM,
        *,
        models_dir: Path,
        quantization: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        log: Callable[[str], None] | None = None,
        **options: Any,
    ) -> LocalBackend:
        """Load a packaged model (assembling and caching it on first use) in the given format."""
        import torch
        from transformers import AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        quant = resolve_quantization(quantization, device)
        path = llm_model_dir(model, models_dir, log=log)
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls(load_model(path, quant, device), tokenizer, name=f"local:{model}:{quant}", **options)

    def variant(self, **options: Any) -> LocalBackend:
        """The same loaded model with other options (decoder, prompt_cache, ...); shares the
        model, its lock and the built decoders."""
        current = {
            "name": self.name,
            "decoder": self.decoder,
            "temperature": self.temperature,
            "prompt_cache": self.prompt_cache,
            "prompt_lookup_tokens": self.prompt_lookup_tokens,
            "prompt_cache_size": self.prompt_cache_size,
        }
        other = LocalBackend(self.model, self.tokenizer, **{**current, **options})
        other._lock = self._lock
        other._decoders = self._decoders
        return other

    # -- the LLMBackend interface ---------------------------------------------------------------
    def generate_json(self, messages: list[ChatMessage], schema: dict, max_tokens: int = 256) -> dict:
        """JSON matching `schema`, decoded under the schema's grammar; stops at the closing brace."""
        messages = check_messages(messages)
        with self._lock:
            constraint = self.constrained_decoder().generate_kwargs(schema)
            ids, past = self._prompt(messages)
            out = self.model.generate(**self._generate_kwargs(ids, past, max_tokens), **constraint)
        new = out[0, ids.shape[1] :].tolist()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        if len(new) >= max_tokens and (not new or new[-1] not in self.stop_token_ids):
            raise LLMError(
                f"The model's JSON answer was cut off at max_tokens={max_tokens}; raise it (llm.max_new_tokens)."
            )
        return validate_json_text(text, schema, f"The model {self.name}")

    def stream(
        self, messages: list[ChatMessage], max_tokens: int = 256, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Text deltas as the model writes them (word by word). Stopping iteration early cancels
        the generation at its next token."""
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        messages = check_messages(messages)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock:
                    if cancel.is_set():
                        return
                    # transformers' assisted generation (prompt lookup) started from a partial KV
                    # cache writes different text than plain greedy decoding, so a streamed reply
                    # uses one speed-up or the other; lookup saves more over a whole reply.
                    lookup = bool(self.prompt_lookup_tokens and self.temperature == 0)
                    ids, past = self._prompt(messages, reuse_cache=not lookup)
                    kwargs = self._generate_kwargs(ids, past, max_tokens)
                    if lookup:
                        kwargs["prompt_lookup_num_tokens"] = self.prompt_lookup_tokens
                    self.model.generate(
                        **kwargs, streamer=streamer, stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)])
                    )
            except BaseException as exc:  # handed to the reader; the thread must not die silently
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="convrec-llm-stream", daemon=True)
        worker.start()
        try:
            yield from cut_at_stops(streamer, stop)
        finally:
            cancel.set()
        worker.join()
        if failure:
            raise failure[0]

    # -- helpers --------------------------------------------------------------------------------
    def constrained_decoder(self) -> ConstrainedDecoder:
        """The grammar-constrained decoder for this model (built on first use, then shared)."""
        with self._lock:
            found = self._decoders.get(self.decoder)
            if found is None:
                found = make_decoder(self.decoder, self.model, self.tokenizer, sorted(self.stop_token_ids))
                self._decoders[self.decoder] = found
            return found

    def prompt_ids(self, messages: list[ChatMessage]) -> Any:
        """Token ids of the chat prompt (template applied, assistant turn opened), shape (1, n)."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        return ids.to(self.model.device)

    def _prompt(self, messages: list[ChatMessage], reuse_cache: bool = True) -> tuple[Any, Any]:
        """Prompt ids plus, when the system prompt's KV cache is kept, a private copy of it."""
        ids = self.prompt_ids(messages)
        if not (self.prompt_cache and reuse_cache) or messages[0]["role"] != "system" or len(messages) < 2:
            return ids, None
        system = messages[0]["content"]
        entry = self._prefixes.get(system)
        if entry is None:
            import torch

            text = self.tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=False)
            prefix = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(prefix) >= ids.shape[1] or ids[0, : len(prefix)].tolist() != prefix:
                return ids, None  # the template does not render the system turn as a prefix
            with torch.inference_mode():
                out = self.model(input_ids=ids[:, : len(prefix)], use_cache=True)
            cache = getattr(out, "cache", None)  # transformers >= 5.24; `past_key_values` before
            entry = (prefix, cache if cache is not None else out.past_key_values)
            self._prefixes[system] = entry
            if len(self._prefixes) > self.prompt_cache_size:
                self._prefixes.popitem(last=False)
        else:
            self._prefixes.move_to_end(system)
            prefix = entry[0]
            if ids[0, : len(prefix)].tolist() != prefix:
                return ids, None
        # generate() extends the cache in place, so every call starts from its own copy.
        return ids, copy.deepcopy(entry[1])

    def _generate_kwargs(self, ids: Any, past: Any, max_tokens: int) -> dict[str, Any]:
        import torch

        kwargs: dict[str, Any] = {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "max_new_tokens": max_tokens,
            "eos_token_id": sorted(self.stop_token_ids),
            "pad_token_id": self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else min(self.stop_token_ids),
        }
        if past is not None:
            kwargs[_cache_argument()] = past
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=0.95)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def _stop_token_ids(self) -> set[int]:
        """Every id that ends an assistant turn: the generation config's, the tokenizer's EOS and
        the chat template's end-of-turn marker."""
        ids: set[int] = set()
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(int(i) for i in configured)
        if self.tokenizer.eos_token_id is not None:
            ids.add(int(self.tokenizer.eos_token_id))
        for marker in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            token = self.tokenizer.convert_tokens_to_ids(marker)
            if isinstance(token, int) and token != self.tokenizer.unk_token_id and token >= 0:
                ids.add(token)
        if not ids:
            raise LLMError(f"The tokenizer of {self.name} defines no end-of-turn token.")
        return ids

    def describe(self) -> dict[str, Any]:
        """What is loaded, for logs and benchmark records."""
        return {
            "name": self.name,
            "device": str(self.model.device),
            "decoder": self.decoder,
            "prompt_cache": self.prompt_cache,
            "prompt_lookup_tokens": self.prompt_lookup_tokens,
            "weight_bytes": weight_bytes(self.model),
        }


def weight_bytes(model: Any) -> int:
    """Bytes of weights read to generate one token: every parameter and buffer once, except the
    input embedding table (one row is read) unless it is tied to the output layer."""
    seen: set[int] = set()
    total = 0
    embed = model.get_input_embeddings().weight
    tied = embed is model.get_output_embeddings().weight
    for tensor in list(model.parameters()) + list(model.buffers()):
        key = tensor.data_ptr()
        if key in seen:
            continue
        seen.add(key)
        if tensor is embed and not tied:
            continue
        total += tensor.numel() * tensor.element_size()
    # bitsandbytes keeps 4-bit block scales outside the parameters.
    for module in model.modules():
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        absmax = getattr(state, "absmax", None)
        if absmax is not None:
            total += absmax.numel() * absmax.element_size()
    return total
