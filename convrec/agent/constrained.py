"""Grammar-constrained decoding for transformers' `generate`: JSON that always matches a schema.

Three libraries do this; each adapter turns a JSON Schema into the keyword arguments that
constrain one `generate()` call (a fresh logits processor per call: they are stateful). Once the
object is complete, each library allows only the end-of-sequence token, so generation stops
right after the closing brace. `bench/llm.py` compares them (time per structured generation,
validity, set-up cost); xgrammar is the default (see docs/llm.md for the numbers).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Protocol

from convrec.errors import LLMError

DECODERS = ("xgrammar", "outlines", "lm-format-enforcer")


class ConstrainedDecoder(Protocol):
    name: str

    def generate_kwargs(self, schema: dict) -> dict[str, Any]:
        """Keyword arguments for one `model.generate()` call that force JSON matching `schema`."""
        ...


def check_schema(schema: dict) -> str:
    """`schema` as JSON text, after checking it is a valid JSON Schema."""
    import jsonschema

    if not isinstance(schema, dict):
        raise LLMError("The JSON schema must be an object (a dict).")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise LLMError(f"The JSON schema is invalid: {exc.message}.") from None
    # Key order is kept: the grammar writes properties in the schema's order.
    return json.dumps(schema)


class XGrammarDecoder:
    """xgrammar: compiles the schema to a grammar once (cached by the compiler) and masks logits
    with a token bitmask. Compact JSON (no free whitespace) keeps outputs short."""

    name = "xgrammar"

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]):
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)
        self._compiler = xgr.GrammarCompiler(info, cache_enabled=True)

    def generate_kwargs(self, schema: dict) -> dict[str, Any]:
        import xgrammar as xgr
        import xgrammar.contrib.hf

        text = check_schema(schema)
        try:
            compiled = self._compiler.compile_json_schema(text, any_whitespace=False)
        except (RuntimeError, ValueError) as exc:
            raise LLMError(f"xgrammar cannot turn this JSON schema into a grammar: {exc}.") from None
        return {"logits_processor": [xgr.contrib.hf.LogitsProcessor(compiled)]}


class OutlinesDecoder:
    """outlines (outlines-core): compiles the schema to a regex and then a token index."""

    name = "outlines"

    def __init__(self, model: Any, tokenizer: Any, cache_size: int = 16):
        import outlines
        from outlines.backends.outlines_core import OutlinesCoreBackend

        self._backend = OutlinesCoreBackend(outlines.from_transformers(model, tokenizer))
        self._indexes: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size

    def generate_kwargs(self, schema: dict) -> dict[str, Any]:
        from outlines.backends.outlines_core import OutlinesCoreLogitsProcessor
        from outlines_core import Index
        from outlines_core.json_schema import build_regex_from_schema

        text = check_schema(schema)
        index = self._indexes.get(text)
        if index is None:
            try:
                index = Index(build_regex_from_schema(text), self._backend.vocabulary)
            except (RuntimeError, ValueError) as exc:
                raise LLMError(f"outlines cannot turn this JSON schema into a grammar: {exc}.") from None
            self._indexes[text] = index
            if len(self._indexes) > self._cache_size:
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end(text)
        return {"logits_processor": [OutlinesCoreLogitsProcessor(index, "torch")]}


class LMFormatEnforcerDecoder:
    """lm-format-enforcer: a character-level JSON-schema parser walked against a token prefix
    tree, plugged in through `prefix_allowed_tokens_fn`. Building the tree scans the whole
    vocabulary once (seconds for Qwen's 152k tokens).

    The library's own transformers integration imports modules that transformers 5 removed, so
    the vocabulary scan it performs is done here, with the library's core classes.
    """

    name = "lm-format-enforcer"

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]):
        from lmformatenforcer import TokenEnforcerTokenizerData

        special = set(tokenizer.all_special_ids)
        zero = tokenizer.encode("0", add_special_tokens=False)[-1]
        regular = []
        for token_id in range(min(vocab_size, len(tokenizer))):
            if token_id in special:
                continue
            # Decoding after "0" and dropping it reveals a leading space that decode() alone strips.
            after_zero = tokenizer.decode([zero, token_id])[1:]
            alone = tokenizer.decode([token_id])
            regular.append((token_id, after_zero, len(after_zero) > len(alone)))

        def decode(tokens: list[int]) -> str:
            return tokenizer.decode(tokens).rstrip("\ufffd")

        self._data = TokenEnforcerTokenizerData(regular, decode, list(stop_token_ids), False, vocab_size)

    def generate_kwargs(self, schema: dict) -> dict[str, Any]:
        from lmformatenforcer import JsonSchemaParser, TokenEnforcer

        check_schema(schema)
        try:
            enforcer = TokenEnforcer(self._data, JsonSchemaParser(schema))
        except Exception as exc:  # the library raises assorted types for unsupported schemas
            raise LLMError(f"lm-format-enforcer cannot use this JSON schema: {exc}.") from None

        def allowed(batch_id: int, sent: Any) -> list[int]:
            return enforcer.get_allowed_tokens(sent.tolist()).allowed_tokens

        return {"prefix_allowed_tokens_fn": allowed}


def make_decoder(name: str, model: Any, tokenizer: Any, stop_token_ids: list[int]) -> ConstrainedDecoder:
    """Build the named decoder for a loaded model and its tokenizer."""
    vocab_size = int(model.config.vocab_size)
    if name == "xgrammar":
        return XGrammarDecoder(tokenizer, vocab_size, stop_token_ids)
    if name == "outlines":
        return OutlinesDecoder(model, tokenizer)
    if name == "lm-format-enforcer":
        return LMFormatEnforcerDecoder(tokenizer, vocab_size, stop_token_ids)
    raise LLMError(f"Unknown constrained decoder {name!r}; use one of {', '.join(DECODERS)}.")
