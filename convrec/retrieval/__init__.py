"""Retrieval: catalogs and their schema, the BERT embedder, the Chroma store, filtered search."""

from convrec.retrieval.catalog import Catalog, CatalogSchema, FacetSpec, Interactions, Item, LoadReport
from convrec.retrieval.embedder import SentenceEmbedder
from convrec.retrieval.filters import NumericRange, SearchFilters
from convrec.retrieval.index import Index, IndexManifest, SearchHit, build_index, exact_search
from convrec.retrieval.loaders import load_catalog
from convrec.retrieval.mapping import CatalogMapping, load_mapping
from convrec.retrieval.store import ChromaStore

__all__ = [
    "Catalog",
    "CatalogMapping",
    "CatalogSchema",
    "ChromaStore",
    "FacetSpec",
    "Index",
    "IndexManifest",
    "Interactions",
    "Item",
    "LoadReport",
    "NumericRange",
    "SearchFilters",
    "SearchHit",
    "SentenceEmbedder",
    "build_index",
    "exact_search",
    "load_catalog",
    "load_mapping",
]
