"""BERT sentence embeddings (all-MiniLM-L6-v2 by default) through plain transformers.

Mean pooling over the attention mask, then L2 normalization: the same vectors the
sentence-transformers pipeline produces, without its extra dependency.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from convrec import assets


class SentenceEmbedder:
    """Turns texts into unit-length float32 vectors.

    Loading is lazy (no work in `__init__`); `encode` batches texts of similar length together so
    little time is spent on padding, and runs on CUDA when asked for and present.
    """

    def __init__(
        self,
        model_name: str = assets.DEFAULT_EMBEDDING_MODEL,
        device: str = "cpu",
        batch_size: int = 64,
        max_length: int = 256,
        model_dir: Path | None = None,
    ) -> None:
        self.model_name = model_name
        self.device = device
        self.batch_size = batch_size
        self.max_length = max_length
        self.model_dir = model_dir
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return assets.EMBEDDING_MODELS[self.model_name][2]

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            path = self.model_dir or assets.embedding_model_dir(self.model_name)
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = AutoModel.from_pretrained(str(path), dtype=torch.float32)
            model.eval().to(self.device)
            self._tokenizer, self._model = tokenizer, model

    def encode(self, texts: Sequence[str], progress: bool = False, desc: str = "Embedding") -> np.ndarray:
        """Embed `texts`; returns an array of shape (len(texts), dim), rows of unit length."""
        import torch

        self._load()
        assert self._model is not None and self._tokenizer is not None
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Sort by length so each batch pads to a similar size; put rows back in order at the end.
        order = np.argsort([len(t) for t in texts], kind="stable")[::-1]
        bar = tqdm(total=len(texts), desc=desc, unit="item", disable=not progress, leave=False)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().cpu().numpy()
                bar.update(len(idx))
        bar.close()
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
