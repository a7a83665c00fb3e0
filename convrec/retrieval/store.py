"""The vector store: Chroma, embedded (`PersistentClient`) or a real `chroma run` server.

convrec always passes its own vectors; Chroma's default embedding function (which downloads a
model) is never used. Connection and server errors become `StoreUnavailableError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from convrec.config import HnswSettings
from convrec.errors import StoreUnavailableError


@contextlib.contextmanager
def _store_errors(what: str) -> Iterator[None]:
    """Turn transport failures into one clear sentence; let programming errors through."""
    try:
        yield
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise StoreUnavailableError(f"The vector store could not {what}: {exc}") from None
    except Exception as exc:  # httpx / chromadb raise their own transport error types
        name = type(exc).__name__
        if any(k in name for k in ("Connect", "Timeout", "Transport", "Network", "Remote", "Protocol")):
            raise StoreUnavailableError(f"The vector store could not {what}: {exc}") from None
        raise


def _settings():
    import chromadb

    return chromadb.Settings(anonymized_telemetry=False, allow_reset=False)


class ChromaStore:
    """Collections of item vectors with metadata, in one Chroma database.

    `ChromaStore.embedded(path)` keeps the database in a folder; `ChromaStore.server(url)` talks to
    a running `chroma run --path DIR --host H --port P`.
    """

    def __init__(self, client: Any, location: str) -> None:
        self._client = client
        self.location = location

    @classmethod
    def embedded(cls, path: Path) -> ChromaStore:
        import chromadb

        path.mkdir(parents=True, exist_ok=True)
        with _store_errors(f"open {path}"):
            client = chromadb.PersistentClient(path=str(path), settings=_settings())
        return cls(client, str(path))

    @classmethod
    def server(cls, url: str) -> ChromaStore:
        import chromadb

        parsed = urlparse(url)
        if not parsed.hostname:
            raise StoreUnavailableError(f"{url!r} is not a Chroma server URL (expected http://host:port).")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=_settings()
            )
            client.heartbeat()
        except Exception as exc:  # chromadb raises a bare ValueError/Exception for refused connections
            raise StoreUnavailableError(f"Cannot reach the Chroma server at {url} ({exc}).") from None
        return cls(client, url)

    # -- collections ---------------------------------------------------------------------------
    def create_collection(self, name: str, hnsw: HnswSettings) -> None:
        with _store_errors(f"create collection {name}"):
            self._client.create_collection(
                name,
                configuration={"hnsw": hnsw.model_dump()},
                embedding_function=None,
                metadata={"created_by": "convrec"},
            )

    def delete_collection(self, name: str) -> None:
        with _store_errors(f"delete collection {name}"), contextlib.suppress(ValueError, KeyError):
            self._client.delete_collection(name)

    def collection_names(self) -> list[str]:
        with _store_errors("list collections"):
            cols = self._client.list_collections()
        return [c if isinstance(c, str) else c.name for c in cols]

    def _collection(self, name: str) -> Any:
        with _store_errors(f"open collection {name}"):
            return self._client.get_collection(name, embedding_function=None)

    # -- records -------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[dict[str, Any]],
        documents: Sequence[str] | None = None,
    ) -> None:
        col = self._collection(name)
        with _store_errors(f"add to {name}"):
            col.add(
                ids=list(ids),
                embeddings=np.asarray(vectors, dtype=np.float32),
                metadatas=[m or None for m in metadatas],
                documents=list(documents) if documents is not None else None,
            )

    def count(self, name: str) -> int:
        col = self._collection(name)
        with _store_errors(f"count {name}"):
            return int(col.count())

    def query(
        self, name: str, vector: np.ndarray, k: int, where: dict[str, Any] | None = None
    ) -> tuple[list[str], list[float]]:
        """Ids and cosine distances of the `k` nearest vectors meeting `where`, nearest first."""
        col = self._collection(name)
        with _store_errors(f"search {name}"):
            res = col.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],
                n_results=max(1, k),
                where=where,
                include=["distances"],
            )
        return list(res["ids"][0]), [float(d) for d in res["distances"][0]]

