"""Search on the real MovieLens index with the real embedding model and a real embedded Chroma."""

from __future__ import annotations

import numpy as np
import pytest

from convrec.errors import ConvrecError
from convrec.retrieval.filters import NumericRange, SearchFilters
from convrec.retrieval.index import exact_search

pytestmark = pytest.mark.slow

STAR_WARS = {"50", "172", "181"}  # Star Wars, The Empire Strikes Back, Return of the Jedi


def check_filtered(index, query: str, filters: SearchFilters, k: int = 20) -> list:
    hits = index.search(query, k=k, filters=filters)
    norm = filters.normalized(index.catalog.schema)
    matching = [it for it in index.catalog if norm.matches(it)]
    assert len(hits) == min(k, len(matching)), "k results whenever k matching items exist"
    assert all(norm.matches(h.item) for h in hits), "every hit meets the filters"
    assert len({h.item.id for h in hits}) == len(hits)
    # Against exact search over the matching items: the same top results.
    mask = np.array([norm.matches(it) for it in index.catalog])
    exact = exact_search(index.embeddings, index.embed(query), k, mask)
    exact_ids = {index.catalog.items[i].id for i in exact}
    recall = len(exact_ids & {h.item.id for h in hits}) / len(exact_ids) if exact_ids else 1.0
    assert recall >= 0.9
    return hits


def test_semantic_sanity_space_adventure(ml_index) -> None:
    hits = ml_index.search("space adventure", k=len(ml_index.catalog))
    rank = {h.item.id: r for r, h in enumerate(hits)}
    unrelated = [
        it.id
        for it in ml_index.catalog
        if set(it.categorical.get("genres", ())) <= {"Drama", "Romance", "Comedy", "Documentary", "Musical"}
    ]
    assert len(unrelated) > 500
    median_unrelated = float(np.median([rank[i] for i in unrelated]))
    for sw in STAR_WARS:
        assert rank[sw] < 0.1 * len(hits) < median_unrelated
    # Asking by name finds them first.
    top = {h.item.id for h in ml_index.search("star wars", k=5)}
    assert STAR_WARS <= top


def test_include_filter(ml_index) -> None:
    hits = check_filtered(ml_index, "a dark detective story", SearchFilters(include_any={"genres": ["film-noir"]}))
    assert all("Film-Noir" in h.item.categorical["genres"] for h in hits)


def test_include_all_filter(ml_index) -> None:
    check_filtered(ml_index, "funny aliens", SearchFilters(include_all={"genres": ["Sci-Fi", "Comedy"]}))


def test_exclude_filter(ml_index) -> None:
    hits = check_filtered(ml_index, "war movie", SearchFilters(exclude={"genres": ["War", "Action"]}), k=30)
    assert not any({"War", "Action"} & set(h.item.categorical.get("genres", ())) for h in hits)


def test_numeric_range_filter(ml_index) -> None:
    hits = check_filtered(ml_index, "comedy", SearchFilters(ranges={"year": NumericRange(low=1990, high=1999)}))
    assert all(1990 <= h.item.numeric["year"] <= 1999 for h in hits)
    old = check_filtered(ml_index, "comedy", SearchFilters(ranges={"year": NumericRange(high=1940)}), k=50)
    assert old and all(h.item.numeric["year"] <= 1940 for h in old)
    holes = SearchFilters(exclude_ranges={"year": [NumericRange(low=1970, high=1989)]})  # "nothing from the 70s or 80s"
    hits = check_filtered(ml_index, "space adventure", holes, k=30)
    assert not any(1970 <= h.item.numeric["year"] <= 1989 for h in hits)


def test_excluded_ids(ml_index) -> None:
    check_filtered(ml_index, "star wars", SearchFilters(exclude_ids=sorted(STAR_WARS)), k=10)


def test_combined_selective_filters_still_return_k(ml_index) -> None:
    f = SearchFilters(
        include_any={"genres": ["Sci-Fi"]},
        exclude={"genres": ["War", "Horror"]},
        ranges={"year": NumericRange(low=1980, high=1999)},
        exclude_ids=["1", "2"],
    )
    hits = check_filtered(ml_index, "light-hearted space adventure", f, k=40)
    assert len(hits) == 40


def test_fewer_matches_than_k_returns_all_matches(ml_index) -> None:
    f = SearchFilters(include_all={"genres": ["Film-Noir", "Sci-Fi"]})
    hits = check_filtered(ml_index, "anything", f, k=50)
    assert 0 < len(hits) < 50


def test_no_match_is_empty_not_an_error(ml_index) -> None:
    f = SearchFilters(include_all={"genres": ["Western", "Animation", "Horror"]})
    assert ml_index.search("cowboy cartoon", k=10, filters=f) == []


def test_unknown_genre_is_a_clear_error(ml_index) -> None:
    with pytest.raises(ConvrecError, match="Did you mean"):
        ml_index.search("x", filters=SearchFilters(include_any={"genres": ["Westren"]}))


def test_vector_query_and_item_vectors(ml_index) -> None:
    vec = ml_index.vector("50")
    assert vec.shape == (384,) and abs(float(np.linalg.norm(vec)) - 1) < 1e-4
    assert ml_index.search(vec, k=1)[0].item.id == "50"


PLANNER_FILTERS = [
    SearchFilters(include_any={"genres": ["Drama", "Comedy"]}),  # broad: most items match
    SearchFilters(exclude={"genres": ["Drama"]}, ranges={"year": NumericRange(low=1990)}),
    SearchFilters(include_all={"genres": ["Comedy", "Romance"]}, exclude_ids=["1"]),  # selective
    SearchFilters(ranges={"year": NumericRange(high=1950)}),
    SearchFilters(only_ids=["50", "172", "181", "no-such-id"], exclude_ids=["172"]),  # "by the director of …"
    SearchFilters(only_ids=[]),  # nothing allowed
    SearchFilters(include_any={"genres": ["Sci-Fi"]}, exclude_ranges={"year": [NumericRange(low=1970, high=1979)]}),
]


def test_facet_columns_agree_with_the_python_predicate(ml_index) -> None:
    for f in PLANNER_FILTERS:
        norm = f.normalized(ml_index.catalog.schema)
        mask = ml_index.columns.mask(norm)
        assert mask.tolist() == [norm.matches(it) for it in ml_index.catalog]


@pytest.mark.parametrize("path", ["exact", "hnsw"])
def test_both_planner_paths_meet_filters_and_return_k(ml_index, monkeypatch, path: str) -> None:
    # MovieLens is small enough that every filtered search is exact; forcing the threshold to 0
    # sends the same searches through the HNSW-then-check path (and its exact completion).
    import convrec.retrieval.index as index_module

    if path == "hnsw":
        monkeypatch.setattr(index_module, "EXACT_MAX_ROWS", 0)
    for f in PLANNER_FILTERS:
        check_filtered(ml_index, "a funny story about friendship", f, k=30)
