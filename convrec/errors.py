"""Errors a user can cause.

Every one of these is caught at the edge (CLI, REST API, chat page) and shown as one clear
sentence. Anything else that escapes is a bug and is allowed to crash loudly.
"""

from __future__ import annotations

from pathlib import Path


class ConvrecError(Exception):
    """Base class for problems caused by input, configuration or the environment."""


class ConfigError(ConvrecError):
    """A setting is missing, malformed or contradicts another."""


class AssetError(ConvrecError):
    """A packaged model or dataset is missing or fails its checksum."""


class CatalogError(ConvrecError):
    """A catalog or interactions file cannot be read as described by its mapping."""

    def __init__(self, problem: str, path: str | Path | None = None, line: int | None = None):
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(f"{where}{problem}")


class IndexNotBuiltError(ConvrecError):
    """A search or recommendation was asked of a catalog that has no index yet."""


class StoreUnavailableError(ConvrecError):
    """The vector store (e.g. a Chroma server) cannot be reached or answered with an error."""


class UnknownUserError(ConvrecError):
    """A user id that the catalog's interactions do not contain."""


class UnknownItemError(ConvrecError):
    """An item id that the catalog does not contain."""


class LLMError(ConvrecError):
    """The language model could not be loaded, reached, or gave an unusable answer."""


class LLMUnavailableError(LLMError):
    """An LLM server cannot be reached, timed out, or refused the request."""
