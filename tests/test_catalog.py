"""Catalog parsing: mappings, CSV/JSONL items, interactions, and every bad-input case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convrec.errors import CatalogError
from convrec.retrieval.catalog import CatalogSchema, Item
from convrec.retrieval.loaders import fix_trailing_article, load_catalog

MAPPING = """
name = "shop"
[items]
path = "items.csv"
id = "sku"
title = "name"
text = "{title}. {description} Category: {category}."
[items.categorical]
category = { column = "cats", separator = "|" }
brand = "brand"
[items.numeric]
price = { column = "price", min = 0 }
"""

INTERACTIONS = """
[interactions]
path = "orders.csv"
user = "customer"
item = "sku"
value = "qty"
time = "at"
"""

GOOD_ITEMS = (
    "sku,name,description,cats,brand,price\n"
    "a1,Trail Shoe,Grippy running shoe,Shoes|Running,Acme,89.5\n"
    'a2,"Rain Jacket, Light",Packable shell,Jackets,Acme,120\n'
    "a3,Wool Socks,Warm socks,Socks|Running,Knitco,\n"
)


def write_catalog(tmp_path: Path, items: str | bytes, orders: str | None = None, mapping: str = MAPPING) -> Path:
    (tmp_path / "items.csv").write_bytes(items if isinstance(items, bytes) else items.encode())
    extra = ""
    if orders is not None:
        (tmp_path / "orders.csv").write_text(orders)
        extra = INTERACTIONS
    path = tmp_path / "shop.toml"
    path.write_text(mapping + extra)
    return path


def test_csv_catalog_with_multivalued_and_numeric_facets(tmp_path: Path) -> None:
    cat = load_catalog(write_catalog(tmp_path, GOOD_ITEMS), tmp_path)
    assert cat.name == "shop" and len(cat) == 3
    shoe = cat.get("a1")
    assert shoe.categorical == {"category": ("Shoes", "Running"), "brand": ("Acme",)}
    assert shoe.numeric == {"price": 89.5}
    assert shoe.text == "Trail Shoe. Grippy running shoe Category: Shoes, Running."
    assert cat.get("a2").title == "Rain Jacket, Light"  # quoted comma survives
    assert "price" not in cat.get("a3").numeric  # empty cell = unknown
    spec = cat.schema.get("category")
    assert spec is not None and spec.multi and spec.values[0] == "Running"  # most frequent first
    price = cat.schema.get("price")
    assert price is not None and (price.low, price.high) == (89.5, 120.0)
    assert cat.report.skipped_rows == 0


def test_interactions_load_in_one_shape_and_unknown_items_are_dropped(tmp_path: Path) -> None:
    orders = "customer,sku,qty,at\nu1,a1,2,2024-01-02T10:00:00\nu1,a2,1,1700000000\nu2,zz,1,1700000001\n"
    cat = load_catalog(write_catalog(tmp_path, GOOD_ITEMS, orders), tmp_path)
    frame = cat.interactions.frame
    assert list(frame.columns) == ["user", "item", "value", "time"]
    assert len(frame) == 2 and set(frame["item"]) == {"a1", "a2"}
    assert frame["value"].tolist() == [2.0, 1.0]
    assert frame["time"].iloc[1] == 1700000000.0 and frame["time"].iloc[0] > 1.7e9
    assert cat.report.dropped_interactions == 1


def test_unrated_values_count_as_interactions_without_a_rating(tmp_path: Path) -> None:
    # Book-Crossing style: 0 records an interaction without a rating. It stays an interaction for
    # CF, but "top rated" must not average it as a rating of 0.
    from convrec.ranking.quality import ItemQuality

    orders = "customer,sku,qty,at\nu1,a1,0,1\nu2,a1,0,2\nu3,a1,9,3\nu1,a2,7,4\nu2,a2,8,5\n"
    path = write_catalog(tmp_path, GOOD_ITEMS, orders)
    path.write_text(path.read_text() + "unrated = [0]\n")
    cat = load_catalog(path, tmp_path)
    values = cat.interactions.frame["value"]
    assert len(values) == 5 and int(values.isna().sum()) == 2
    quality = ItemQuality.from_interactions(cat.interactions)
    assert quality is not None and quality.mean == {"a1": 9.0, "a2": 7.5} and quality.count["a1"] == 1


def test_jsonl_catalog(tmp_path: Path) -> None:
    rows = [
        {"id": 1, "title": "Alpha", "tags": ["x", "y"], "year": 2001},
        {"id": 2, "title": "Beta", "tags": "z", "year": "1999"},
    ]
    (tmp_path / "items.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "m.toml").write_text(
        'name = "j"\n[items]\npath = "items.jsonl"\nid = "id"\ntitle = "title"\n'
        '[items.categorical]\ntags = "tags"\n[items.numeric]\nyear = "year"\n'
    )
    cat = load_catalog(tmp_path / "m.toml", tmp_path)
    assert cat.get("1").categorical["tags"] == ("x", "y")
    assert cat.get("2").numeric["year"] == 1999.0
    assert cat.schema.get("tags").multi  # type: ignore[union-attr]


def test_missing_column_names_file_line_and_column(tmp_path: Path) -> None:
    items = "sku,name,description,cats,price\na1,Shoe,d,Shoes,1\n"
    with pytest.raises(CatalogError) as err:
        load_catalog(write_catalog(tmp_path, items), tmp_path)
    assert err.value.line == 1 and err.value.path.endswith("items.csv")
    assert "Missing column 'brand'" in str(err.value)


def test_missing_column_is_not_skippable(tmp_path: Path) -> None:
    items = "sku,name,description,cats,price\na1,Shoe,d,Shoes,1\n"
    with pytest.raises(CatalogError, match="Missing column"):
        load_catalog(write_catalog(tmp_path, items), tmp_path, skip_bad_rows=True)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("a1,Again,d,Shoes,Acme,3", "duplicate id 'a1' (first seen on line 2)"),
        ("a9,Odd,d,Shoes,Acme,cheap", "column 'price': 'cheap' is not a number"),
        ("a9,Short,d,Shoes", "has 4 fields, expected 6"),
        (",Nameless,d,Shoes,Acme,1", "empty id"),
        ("a9,,d,Shoes,Acme,1", "empty title"),
        ('a9,"Broken quote,d,Shoes,Acme,1', "fields"),
    ],
)
def test_bad_rows_name_file_line_and_problem(tmp_path: Path, bad_row: str, message: str) -> None:
    items = GOOD_ITEMS + bad_row + "\n" + "a8,Last,d,Shoes,Acme,5\n"
    with pytest.raises(CatalogError) as err:
        load_catalog(write_catalog(tmp_path, items), tmp_path)
    assert message in str(err.value)
    assert err.value.line == 5
    assert "--skip-bad-rows" in str(err.value)
    # Skipping: the bad row is counted, every good row survives.
    cat = load_catalog(write_catalog(tmp_path, items), tmp_path, skip_bad_rows=True)
    assert cat.report.skipped_rows == 1
    good = {"a1", "a2", "a3"} | ({"a8"} if "Broken quote" not in bad_row else set())
    assert good <= set(cat.ids)
    assert "line 5" in cat.report.examples[0]


def test_wrong_encoding_is_a_bad_row(tmp_path: Path) -> None:
    items = GOOD_ITEMS.encode() + "a9,Caf\xe9 Mug,d,Mugs,Acme,9\n".encode("latin-1")
    with pytest.raises(CatalogError, match="not valid utf-8 text") as err:
        load_catalog(write_catalog(tmp_path, items), tmp_path)
    assert err.value.line == 5
    cat = load_catalog(write_catalog(tmp_path, items), tmp_path, skip_bad_rows=True)
    assert len(cat) == 3 and cat.report.reasons["not valid utf-8 text"] == 1


def test_declared_encoding_reads_latin1(tmp_path: Path) -> None:
    items = GOOD_ITEMS.encode() + "a9,Caf\xe9 Mug,d,Mugs,Acme,9\n".encode("latin-1")
    mapping = MAPPING.replace('path = "items.csv"', 'path = "items.csv"\nencoding = "latin-1"')
    cat = load_catalog(write_catalog(tmp_path, items, mapping=mapping), tmp_path)
    assert cat.get("a9").title == "Café Mug"


def test_out_of_range_numbers_become_unknown_and_are_counted(tmp_path: Path) -> None:
    items = GOOD_ITEMS + "a9,Refund,d,Misc,Acme,-5\n"
    cat = load_catalog(write_catalog(tmp_path, items), tmp_path)
    assert "price" not in cat.get("a9").numeric and cat.report.dropped_values == 1


def test_bad_interaction_rows(tmp_path: Path) -> None:
    orders = "customer,sku,qty,at\nu1,a1,2,1\nu1,a2,lots,2\nu2,a3,1,yesterday\n"
    with pytest.raises(CatalogError) as err:
        load_catalog(write_catalog(tmp_path, GOOD_ITEMS, orders), tmp_path)
    assert err.value.path.endswith("orders.csv") and err.value.line == 3
    cat = load_catalog(write_catalog(tmp_path, GOOD_ITEMS, orders), tmp_path, skip_bad_rows=True)
    assert len(cat.interactions) == 1 and cat.report.skipped_rows == 2


def test_empty_and_headerless_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="empty"):
        load_catalog(write_catalog(tmp_path, ""), tmp_path)
    with pytest.raises(CatalogError, match="no usable items"):
        load_catalog(write_catalog(tmp_path, "sku,name,description,cats,brand,price\n"), tmp_path)


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "items.jsonl").write_text('{"id": 1, "title": "A"}\n{"id": 2, "title": \n[1, 2]\n{"title": "no id"}\n')
    (tmp_path / "m.toml").write_text('name = "j"\n[items]\npath = "items.jsonl"\nid = "id"\ntitle = "title"\n')
    with pytest.raises(CatalogError, match="line 2: not valid JSON"):
        load_catalog(tmp_path / "m.toml", tmp_path)
    cat = load_catalog(tmp_path / "m.toml", tmp_path, skip_bad_rows=True)
    assert cat.ids == ["1"] and cat.report.skipped_rows == 3
    assert cat.report.reasons["lacks field 'id'"] == 1


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("name = 'x'\n[items\n", "Not valid TOML"),
        ("name = 'x'\n[items]\npath='a.csv'\nid='i'\n", "items.title"),
        ("name = 'Bad Name!'\n[items]\npath='a.csv'\nid='i'\ntitle='t'\n", "name"),
        ("name = 'x'\n[items]\npath='a.csv'\nid='i'\ntitle='t'\ncolour='red'\n", "colour"),
    ],
)
def test_malformed_mappings(tmp_path: Path, mapping: str, message: str) -> None:
    (tmp_path / "m.toml").write_text(mapping)
    with pytest.raises(CatalogError, match=message):
        load_catalog(tmp_path / "m.toml", tmp_path)


def test_missing_mapping_and_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="built-in catalogs are movielens, bookcrossing"):
        load_catalog(tmp_path / "nope.toml", tmp_path)
    (tmp_path / "m.toml").write_text("name = 'x'\n[items]\npath='gone.csv'\nid='i'\ntitle='t'\n")
    with pytest.raises(CatalogError, match="gone.csv: No such file"):
        load_catalog(tmp_path / "m.toml", tmp_path)


def test_trailing_articles() -> None:
    assert fix_trailing_article("Empire Strikes Back, The") == "The Empire Strikes Back"
    assert fix_trailing_article("Cité des enfants perdus, La") == "La Cité des enfants perdus"
    assert fix_trailing_article("Toy Story") == "Toy Story"


def test_movielens_builtin(tmp_path: Path) -> None:
    cat = load_catalog("movielens", tmp_path)
    assert len(cat) == 1680  # 1,682 upstream minus two broken rows, skipped and counted
    assert cat.report.skipped_rows == 2 and "'unkonwn' is not a number" in cat.report.summary()
    assert cat.get("172").title == "The Empire Strikes Back"
    assert set(cat.get("1").categorical["genres"]) == {"Animation", "Children's", "Comedy"}
    assert cat.get("1").numeric["year"] == 1995
    genres = cat.schema.get("genres")
    assert genres is not None and "Sci-Fi" in genres.values and "unknown" not in genres.values
    assert len(cat.interactions) == 100_000 - cat.report.dropped_interactions
    assert cat.interactions.frame["user"].nunique() == 943

    # MovieLens 100K lists 18 films twice under two ids; they are twins, nothing else is.
    assert cat.twins("266") == ("680",) and cat.twins("680") == ("266",)  # Kull the Conqueror
    assert cat.twins("1") == ()
    assert sum(1 for it in cat if cat.twins(it.id)) == 36


def test_twins_need_the_same_title_text_and_facets() -> None:
    from convrec.retrieval.catalog import Catalog

    items = [
        Item("a", "Atonement", "A novel by Ian McEwan", {"author": ("Ian McEwan",)}, {"year": 2003.0}),
        Item("A", "ATONEMENT", "A novel by Ian McEwan", {"author": ("Ian McEwan",)}, {"year": 2003.0}),
        Item("b", "Atonement", "A novel by Ian McEwan", {"author": ("Ian McEwan",)}, {"year": 2005.0}),
        Item("c", "Atonement", "Another book", {"author": ("Someone Else",)}, {"year": 2003.0}),
    ]
    facets = [("author", "categorical", "Author", True), ("year", "numeric", "Year", False)]
    cat = Catalog("books", items, CatalogSchema.infer(items, facets))
    assert cat.twins("a") == ("A",) and cat.twins("A") == ("a",)
    assert cat.twins("b") == () and cat.twins("c") == () and cat.twins("nope") == ()


def test_a_series_named_by_its_titles() -> None:
    """Titles that share the name before a subtitle or a sequel number are a series; titles that
    only begin alike ("Big", "Big Night") or share a name with no such mark are not."""
    from convrec.retrieval.catalog import Catalog

    titles = {"1": "Alien", "2": "Alien 3", "3": "Alien: Resurrection", "4": "The Terminator",
              "5": "Terminator 2: Judgment Day", "6": "Star Trek III: The Search for Spock",
              "7": "Star Trek: Generations", "8": "Big", "9": "Big Night", "10": "Father of the Bride Part II",
              "11": "Father of the Bride", "12": "Heat", "13": "Heat"}
    items = [Item(i, t, t, {}, {"year": 1990.0 + int(i)}) for i, t in titles.items()]
    cat = Catalog("films", items, CatalogSchema.infer(items, [("year", "numeric", "Year", False)]))
    assert set(cat.title_family("1")) == {"2", "3"} and set(cat.title_family("3")) == {"1", "2"}
    assert cat.title_family("4") == ("5",) and cat.title_family("6") == ("7",) and cat.title_family("11") == ("10",)
    assert cat.title_family("8") == () and cat.title_family("12") == () and cat.title_family("nope") == ()


@pytest.mark.slow
def test_bookcrossing_builtin_real_malformed_rows(shared_data_dir: Path) -> None:
    cat = load_catalog("bookcrossing", shared_data_dir)
    assert len(cat) > 271_000
    # The upstream files' real problems are skipped or repaired and counted, not fatal.
    assert cat.report.skipped_rows >= 1 and cat.report.dropped_values > 0
    assert cat.report.dropped_interactions > 100_000  # ratings of ISBNs absent from BX-Books
    assert len(cat.interactions) > 1_000_000
    book = cat.get("0195153448")
    assert book.title == "Classical Mythology" and book.categorical["author"] == ("Mark P. O. Morford",)
    assert not any("&amp;" in it.title for it in cat.items[:20000])
    with pytest.raises(CatalogError, match="duplicate id"):
        load_catalog("bookcrossing", shared_data_dir, skip_bad_rows=False, with_interactions=False)


def test_a_few_impossible_values_do_not_set_the_usual_high() -> None:
    # Book-Crossing lists a 2024 among books published up to 2004: "the last 5 years" counted back
    # from 2024 found five junk rows
    years = [1990 + i % 15 for i in range(20_000)] + [2020, 2024]
    items = [Item(str(i), f"Book {i}", "", {}, {"year": float(y)}) for i, y in enumerate(years)]
    schema = CatalogSchema.infer(items, [("year", "numeric", "publication year", False)])
    spec = schema.get("year")
    assert (spec.low, spec.high, spec.usual_high) == (1990, 2024, 2004)
    assert CatalogSchema.from_dict(schema.to_dict()) == schema
    assert CatalogSchema.from_dict({"facets": [{"name": "year", "kind": "numeric", "high": 2024}]}).get("year").usual_high is None


def test_whether_a_catalog_describes_its_items() -> None:
    """Words beyond titles and facets are descriptions only when they are the item's own: a
    template's or a glossary's words, shared by many items, are not ("Genres: Drama (serious)")."""
    import random

    from convrec.retrieval.catalog import Catalog, CatalogSchema, Item

    rng = random.Random(0)
    vocab = [f"word{k}" for k in range(3000)]
    plots = [Item(str(i), f"Title {i}", f"Title {i}. " + " ".join(rng.sample(vocab, 12))) for i in range(200)]
    assert Catalog("plots", plots, CatalogSchema(())).describes_items
    genres = ["Drama", "Comedy", "Horror"]
    listed = [Item(str(i), f"Title {i}", f"Title {i} ({1950 + i % 40}). Genres: {genres[i % 3]} (serious, scary, funny).",
                   categorical={"genres": (genres[i % 3],)}) for i in range(200)]
    assert not Catalog("listed", listed, CatalogSchema(())).describes_items
