"""SearchFilters: the Chroma clause and the Python predicate agree; values map onto the vocabulary."""

from __future__ import annotations

import pytest

from convrec.errors import ConvrecError
from convrec.retrieval.catalog import CatalogSchema, Item
from convrec.retrieval.filters import NumericRange, SearchFilters, item_metadata

ITEMS = [
    Item("1", "Space Film", "", {"genres": ("Sci-Fi", "Adventure")}, {"year": 1995}),
    Item("2", "War Film", "", {"genres": ("War", "Drama")}, {"year": 1970}),
    Item("3", "Kids Film", "", {"genres": ("Children's", "Comedy")}, {"year": 1999}),
    Item("4", "Unknown Year", "", {"genres": ("Comedy",)}, {}),
]
SCHEMA = CatalogSchema.infer(ITEMS, [("genres", "categorical", "genre", True), ("year", "numeric", "", False)])


def ids(f: SearchFilters) -> set[str]:
    return {it.id for it in ITEMS if f.matches(it)}


def test_include_any_all_exclude_ranges_and_ids() -> None:
    assert ids(SearchFilters(include_any={"genres": ["Sci-Fi", "War"]})) == {"1", "2"}
    assert ids(SearchFilters(include_all={"genres": ["Sci-Fi", "Adventure"]})) == {"1"}
    assert ids(SearchFilters(include_all={"genres": ["Sci-Fi", "War"]})) == set()
    assert ids(SearchFilters(exclude={"genres": ["War", "Comedy"]})) == {"1"}
    assert ids(SearchFilters(ranges={"year": NumericRange(low=1990, high=1999)})) == {"1", "3"}
    assert ids(SearchFilters(ranges={"year": NumericRange(high=1980)})) == {"2"}  # unknown year excluded
    assert ids(SearchFilters(exclude_ids=["1", "3"])) == {"2", "4"}
    f = SearchFilters(exclude_ids=["1", "3"], exclude={"genres": ["War"]})
    excluded = set(f.exclude_ids)
    assert {it.id for it in ITEMS if f.matches(it, excluded)} == ids(f) == {"4"}
    assert ids(SearchFilters(only_ids=["1", "2"], exclude={"genres": ["War"]})) == {"1"}
    assert ids(SearchFilters(only_ids=[])) == set() and not SearchFilters(only_ids=[]).is_empty()
    assert SearchFilters(only_ids=["1"]).to_where() == {"item_id": {"$in": ["1"]}}
    # "nothing from the 70s": a span in the middle; an unknown year cannot be shown to lie outside
    seventies = SearchFilters(exclude_ranges={"year": [NumericRange(low=1970, high=1979)]})
    assert ids(seventies) == {"1", "3"} and not seventies.is_empty()
    assert ids(SearchFilters(exclude_ranges={"year": [NumericRange(low=1990, high=1994), NumericRange(low=1999)]})) == {"1", "2"}
    assert seventies.to_where() == {"$or": [{"year": {"$lt": 1970.0}}, {"year": {"$gt": 1979.0}}]}
    assert SearchFilters(exclude_ranges={"year": [NumericRange(low=1999)]}).to_where() == {"year": {"$lt": 1999.0}}
    assert seventies.describe() == "year not 1970–1979"


def test_where_clause_shape() -> None:
    assert SearchFilters().to_where() is None
    f = SearchFilters(
        include_any={"genres": ["Sci-Fi", "War"]},
        exclude={"genres": ["Horror"]},
        ranges={"year": NumericRange(low=1990, high=1999)},
        exclude_ids=["7"],
    )
    where = f.to_where()
    assert where == {
        "$and": [
            {"$or": [{"genres": {"$contains": "Sci-Fi"}}, {"genres": {"$contains": "War"}}]},
            {"genres": {"$not_contains": "Horror"}},
            {"year": {"$gte": 1990.0}},
            {"year": {"$lte": 1999.0}},
            {"item_id": {"$nin": ["7"]}},
        ]
    }
    assert item_metadata(ITEMS[0]) == {"item_id": "1", "genres": ["Sci-Fi", "Adventure"], "year": 1995.0}


def test_normalized_maps_loose_spellings_onto_the_vocabulary() -> None:
    f = SearchFilters(include_all={"genres": ["scifi", "sci fi"]}, exclude={"genres": ["childrens"]}).normalized(SCHEMA)
    assert f.include_all == {"genres": ["Sci-Fi"]} and f.exclude == {"genres": ["Children's"]}


def test_unknown_facets_and_values_are_clear_errors() -> None:
    with pytest.raises(ConvrecError, match="Unknown categorical facet 'colour'; this catalog has: genres"):
        SearchFilters(include_any={"colour": ["red"]}).normalized(SCHEMA)
    with pytest.raises(ConvrecError, match="Unknown numeric facet 'price'"):
        SearchFilters(ranges={"price": NumericRange(low=1)}).normalized(SCHEMA)
    with pytest.raises(ConvrecError, match="Genre 'Comdy' does not exist.*Did you mean Comedy"):
        SearchFilters(include_any={"genres": ["Comdy"]}).normalized(SCHEMA)


def test_range_intersection() -> None:
    nineties = NumericRange(low=1990, high=1999)
    assert nineties.intersect(NumericRange(low=1995)) == NumericRange(low=1995, high=1999)
    assert nineties.intersect(NumericRange(high=1990)) == NumericRange(low=1990, high=1990)
    assert nineties.intersect(NumericRange(low=1980, high=1989)) is None
    assert NumericRange().intersect(NumericRange()) == NumericRange()


def test_range_hull() -> None:
    assert NumericRange(low=1994, high=1994).hull(NumericRange(low=1995, high=1995)) == NumericRange(low=1994, high=1995)
    assert NumericRange(low=1990, high=1999).hull(NumericRange(low=1995)) == NumericRange(low=1990)  # open stays open
    assert NumericRange(high=1979).hull(NumericRange(low=1970, high=1989)) == NumericRange(high=1989)


def test_inverted_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="above high"):
        NumericRange(low=2000, high=1990)


def test_facet_columns_agree_with_the_predicate_on_excluded_spans() -> None:
    from convrec.retrieval.catalog import Catalog
    from convrec.retrieval.filters import FacetColumns

    columns = FacetColumns(Catalog("t", ITEMS, SCHEMA))
    for f in (SearchFilters(include_any={"genres": ["Comedy", "War"]}, exclude_ranges={"year": [NumericRange(low=1960, high=1980)]}),
              SearchFilters(include_any={"genres": ["Comedy"]}, exclude_ranges={"year": []}),  # no span: no limit
              SearchFilters(exclude_ranges={"price": [NumericRange(low=1, high=2)]}),  # a facet no item has
              SearchFilters(exclude_ranges={"year": [NumericRange()]})):  # a span over everything
        assert columns.mask(f).tolist() == [f.matches(it) for it in ITEMS], f
