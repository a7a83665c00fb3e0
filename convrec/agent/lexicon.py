"""Catalog word lists for the rule parser, kept as data so each catalog can bring its own.

A lexicon maps phrases onto facet values ("science fiction" → genres=Sci-Fi), names phrases that
stand for several values ("violent" → Action/Crime/Horror/War), gives numeric facets their role
(a year, or an amount with units) and the catalog's reading of vague words ("old", "recent").

Where the words come from, later sources adding to earlier ones:
1. the catalog schema itself: every categorical value matches by its own name (any case, with or
   without hyphens, simple plurals); a numeric facet called "year" is a year;
2. the catalog mapping's `glossary` (the words already written for the embedded text);
3. a lexicon TOML: built in for MovieLens/Book-Crossing (`convrec/agent/lexicons/NAME.toml`), or
   for a user catalog `mapping.toml` the file `mapping.lexicon.toml` beside it, or any path given.
"""

from __future__ import annotations

import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from convrec.errors import CatalogError
from convrec.retrieval.catalog import CatalogSchema
from convrec.retrieval.filters import NumericRange, value_key

# Categorical facets with more values than this are matched only after a cue ("by Stephen King"),
# never by scanning every phrase in the message (an author list would match ordinary words).
SCAN_LIMIT = 400

# Units any money-like facet ("price", "cost") understands without a lexicon.
CURRENCY = ("$", "€", "£", "dollars", "dollar", "usd", "bucks", "euros", "euro", "eur", "pounds", "gbp")

_HYPHEN_IN_WORD = re.compile(r"(?<=\w)[-'’‘`´](?=\w)")
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]")


def normalize(text: str) -> str:
    """Casefold, strip accents, unify quotes and dashes; keeps character offsets meaningful."""
    if not text.isascii():  # the common case skips the (slow, per-character) Unicode work
        text = unicodedata.normalize("NFKC", text)
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.casefold().translate(_UNIFY)


_UNIFY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": " - ", "—": " - "})


def words(phrase: str) -> tuple[str, ...]:
    """A phrase as the parser's word tokens: 'Sci-Fi' → ('sci', 'fi'), "children's" → ('children', 's')."""
    text = _HYPHEN_IN_WORD.sub(" ", normalize(phrase))
    return tuple(t for t in _TOKEN.findall(text) if t.isalnum())


@dataclass(frozen=True)
class Phrase:
    """One phrase's meaning: these values of this facet, wanted all together, any of them, or
    none of them ("for adults": not Children's)."""

    facet: str
    values: tuple[str, ...]
    mode: Literal["all", "any", "none"] = "all"
    explicit: bool = False  # the phrase is the value's own name (a harder constraint than a synonym)
    typo_ok: bool = False  # may match with one typo
    # a subject within the value ("vampires" within Horror): its words stay search words as well,
    # so items whose text matches them come first among the value's items
    topic: bool = False


@dataclass
class NumericFacet:
    """How words map onto one numeric facet."""

    facet: str
    role: Literal["year", "amount"] = "amount"
    step: float = 10.0
    earlier: list[tuple[str, ...]] = field(default_factory=list)  # phrases meaning "lower" (older, cheaper)
    later: list[tuple[str, ...]] = field(default_factory=list)
    early: tuple[int, int] = (0, 3)
    mid: tuple[int, int] = (4, 6)
    late: tuple[int, int] = (7, 9)
    phrases: dict[tuple[str, ...], NumericRange] = field(default_factory=dict)
    units: list[str] = field(default_factory=list)  # "$", "dollars" for amounts
    cues: list[tuple[str, ...]] = field(default_factory=list)  # words naming the facet ("price")
    # named spans of the facet ("year" = 1, "decade" = 10): "the year before", "the next decade"
    spans: dict[str, float] = field(default_factory=dict)
    low: float | None = None  # the catalog's observed range
    high: float | None = None


@dataclass
class Lexicon:
    """Everything the rule parser knows about a catalog's words."""

    schema: CatalogSchema
    phrases: dict[tuple[str, ...], list[Phrase]] = field(default_factory=dict)
    cued: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # large facets: facet -> cue phrases
    numeric: dict[str, NumericFacet] = field(default_factory=dict)
    stopwords: set[str] = field(default_factory=set)
    item_nouns: set[str] = field(default_factory=set)
    # knowledge-graph relations people ask by ("the director of Fargo"): relation -> its nouns
    relations: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    # what people ask for that the catalog has no data on: label -> patterns ("running times")
    unsupported: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    # values whose wish is given up last when nothing matches (facet -> values): "for kids" stays
    # for kids even though it is a synonym, a softer wish than a named genre
    last_to_drop: dict[str, set[str]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    @property
    def max_phrase(self) -> int:
        return max((len(k) for k in self.phrases), default=1)

    @property
    def year_facet(self) -> NumericFacet | None:
        for spec in self.numeric.values():
            if spec.role == "year":
                return spec
        return None

    def add(self, phrase: str | tuple[str, ...], meaning: Phrase) -> None:
        key = phrase if isinstance(phrase, tuple) else words(phrase)
        if not key:
            return
        bucket = self.phrases.setdefault(key, [])
        for i, old in enumerate(bucket):
            if old.facet == meaning.facet:
                # One meaning per facet and phrase: the more explicit (or later, more specific) wins.
                if meaning.explicit or not old.explicit:
                    bucket[i] = meaning
                return
        bucket.append(meaning)

    def typo_candidates(self) -> dict[str, list[Phrase]]:
        """Single words that may match with one typo: value names of 5+ letters and synonyms of 6+."""
        out: dict[str, list[Phrase]] = {}
        for key, meanings in self.phrases.items():
            if len(key) != 1:
                continue
            word = key[0]
            if not word.isalpha():
                continue
            ok = [m for m in meanings if (m.explicit and len(word) >= 5) or (m.typo_ok and len(word) >= 6)]
            if ok:
                out[word] = ok
        return out


def _plurals(word: str) -> list[str]:
    if word.endswith("y") and len(word) > 3 and word[-2] not in "aeiou":
        return [word[:-1] + "ies"]
    if word.endswith(("s", "x", "ch", "sh")):
        return [word + "es"]
    return [word + "s"]


def _value_phrases(value: str) -> list[tuple[str, ...]]:
    """The ways a value's own name is written: 'Sci-Fi' → sci fi, scifi, sci fis; 'Comedy' → comedies."""
    key = words(value)
    if not key:
        return []
    out = [key]
    if len(key) > 1:
        out.append(("".join(key),))
    if key[-1].isalpha() and len(key[-1]) > 2 and key[-1] != "s":
        out.append(key[:-1] + (_plurals(key[-1])[0],))
    return out


def schema_lexicon(schema: CatalogSchema) -> Lexicon:
    """The words any catalog has: its values' own names and its numeric facets' names. A
    single-valued categorical facet (an author, a publisher, a brand) is also a relation to ask by:
    "books by the author of Dune" are those sharing Dune's author."""
    lex = Lexicon(schema=schema, sources=["schema"])
    for spec in schema.categorical:
        if not spec.multi:
            nouns = [words(n) for n in (spec.display, spec.name) if len(words(n)) == 1]
            lex.relations[spec.name] = list(dict.fromkeys([*nouns, *((k[0] + "s",) for k in nouns)]))
        if len(spec.values) > SCAN_LIMIT:
            cues = [words(spec.display), words(spec.name)]
            lex.cued[spec.name] = [c for c in dict.fromkeys(cues) if c]
            continue
        for value in spec.values:
            for key in _value_phrases(value):
                lex.add(key, Phrase(spec.name, (value,), "all", explicit=True, typo_ok=True))
    for spec in schema.numeric:
        is_year = "year" in spec.name.casefold() or "year" in spec.display.casefold()
        is_money = any(w in f"{spec.name} {spec.display}".casefold() for w in ("price", "cost", "amount", "fee"))
        lex.numeric[spec.name] = NumericFacet(
            facet=spec.name,
            role="year" if is_year else "amount",
            step=10.0 if is_year else max(1.0, ((spec.high or 10) - (spec.low or 0)) / 10),
            cues=[c for c in dict.fromkeys([words(spec.display), words(spec.name)]) if c],
            low=spec.low,
            high=spec.usual_high if spec.usual_high is not None else spec.high,  # robust to impossible values
            earlier=[words(w) for w in (["older", "earlier"] if is_year else ["cheaper", "lower", "less expensive"])],
            later=[words(w) for w in (["newer", "more recent", "later"] if is_year else ["pricier", "higher"])],
            units=list(CURRENCY) if is_money else [],
            spans={"year": 1.0, "decade": 10.0} if is_year else {},
        )
    return lex


def add_glossary(lex: Lexicon, glossary: dict[str, dict[str, str]]) -> None:
    """Use a mapping's glossary ('Horror' = 'scary, frightening, monsters') as short synonyms."""
    for facet, entries in glossary.items():
        spec = lex.schema.get(facet)
        if spec is None:
            continue
        for value, text in entries.items():
            if value not in spec.values:
                continue
            for part in re.split(r"[,;]| and ", text):
                key = words(part)
                if 0 < len(key) <= 3:
                    lex.add(key, Phrase(facet, (value,), "all", explicit=False, typo_ok=False))
        lex.sources.append("glossary")


def _range(data: dict[str, Any], where: str) -> NumericRange:
    try:
        return NumericRange(low=data.get("low"), high=data.get("high"))
    except ValueError as exc:
        raise CatalogError(f"Bad range ({exc}).", where) from None


def _whole_span(value: Any, label: str, key: str) -> float:
    """A span of a numeric facet ("decade" = 10): a whole number of at least 1."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number >= 1 and number.is_integer()):
        raise CatalogError(f"{key} must be a whole number of at least 1, got {value!r}.", label)
    return number


def add_lexicon_file(lex: Lexicon, data: dict[str, Any], label: str) -> None:
    """Merge a lexicon TOML (already parsed) into `lex`, checking every value against the schema."""
    schema = lex.schema
    for facet, conf in (data.get("facets") or {}).items():
        spec = schema.get(facet)
        if spec is None:
            known = ", ".join(f.name for f in schema.facets)
            raise CatalogError(f"The lexicon names facet {facet!r}, which this catalog lacks (it has {known}).", label)
        if spec.kind == "categorical":
            vocab = set(spec.values)

            def check(value: str, facet: str = facet, vocab: set[str] = vocab) -> str:
                if value not in vocab:
                    raise CatalogError(f"The lexicon maps words to {facet} {value!r}, which does not occur.", label)
                return value

            for value, phrases in (conf.get("values") or {}).items():
                check(value)
                for phrase in phrases:
                    lex.add(phrase, Phrase(facet, (value,), "all", explicit=False, typo_ok=True))
            for value, phrases in (conf.get("topics") or {}).items():
                check(value)
                for phrase in phrases:
                    lex.add(phrase, Phrase(facet, (value,), "all", explicit=False, typo_ok=True, topic=True))
            for group in (conf.get("groups") or {}).values():
                mode = next((m for m in ("all", "any", "none") if group.get(m)), "any")
                values = tuple(check(v) for v in (group.get(mode) or []))
                if not values:
                    continue
                for phrase in group.get("phrases") or []:
                    lex.add(phrase, Phrase(facet, values, mode, explicit=False, typo_ok=False))
            if conf.get("cues"):
                lex.cued[facet] = [words(c) for c in conf["cues"] if words(c)]
            lex.last_to_drop.setdefault(facet, set()).update(check(v) for v in conf.get("last_to_drop") or [])
        else:
            num = lex.numeric[facet]
            if conf.get("role") in ("year", "amount"):
                num.role = conf["role"]
            if "step" in conf:
                num.step = float(conf["step"])
            for key in ("earlier", "later"):
                if key in conf:
                    setattr(num, key, [words(w) for w in conf[key] if words(w)])
            for key in ("early", "mid", "late"):
                if key in conf:
                    lo, hi = conf[key]
                    setattr(num, key, (int(lo), int(hi)))
            for phrase, rng in (conf.get("phrases") or {}).items():
                num.phrases[words(phrase)] = _range(rng, label)
            if conf.get("units"):
                num.units = [normalize(u) for u in conf["units"]]
            if "spans" in conf:
                if not isinstance(conf["spans"], dict):
                    raise CatalogError(f"facets.{facet}.spans must be a table such as {{ year = 1, decade = 10 }}.", label)
                num.spans = {normalize(str(k)): _whole_span(v, label, f"facets.{facet}.spans.{k}")
                             for k, v in (conf["spans"] or {}).items()}
            if conf.get("cues"):
                num.cues = [words(c) for c in conf["cues"] if words(c)]
    stop = data.get("stopwords") or {}
    lex.stopwords.update(w for s in stop.get("extra", []) for w in words(s))
    lex.item_nouns.update(w for s in data.get("item_noun", []) for w in words(s))
    for relation, nouns in (data.get("relations") or {}).items():
        lex.relations[str(relation)] = [words(n) for n in nouns if words(n)]
    for name, conf in (data.get("unsupported") or {}).items():
        try:
            patterns = [re.compile(rf"\b(?:{pat})\b") for pat in conf.get("patterns", [])]
        except re.error as exc:
            raise CatalogError(f"Bad pattern for unsupported {name!r} ({exc}).", label) from None
        lex.unsupported[str(conf.get("label", name))] = patterns
    lex.sources.append(label)


def lexicon_path_for(catalog: str | Path | None) -> Path | None:
    """The lexicon file that goes with a catalog: built in by name, or `<mapping>.lexicon.toml`."""
    if catalog is None:
        return None
    name = str(catalog)
    builtin = resources.files("convrec.agent") / "lexicons" / f"{name}.toml"
    if "/" not in name and not name.endswith(".toml") and builtin.is_file():
        return Path(str(builtin))
    path = Path(name)
    if path.suffix == ".toml":
        sibling = path.with_name(path.stem + ".lexicon.toml")
        if sibling.is_file():
            return sibling
    return None


def load_lexicon(
    schema: CatalogSchema,
    catalog: str | Path | None = None,
    path: str | Path | None = None,
    glossary: dict[str, dict[str, str]] | None = None,
) -> Lexicon:
    """The lexicon for a catalog: schema words + glossary + the catalog's lexicon file (if any).

    `catalog` is a built-in catalog name or a mapping TOML path; `path` names a lexicon file
    explicitly. When `glossary` is None and the mapping can be read, its glossary is used.
    """
    lex = schema_lexicon(schema)
    if glossary is None and catalog is not None:
        glossary = _mapping_glossary(catalog)
    if glossary:
        add_glossary(lex, glossary)
    file = Path(path) if path is not None else lexicon_path_for(catalog)
    if file is not None:
        if not file.is_file():
            raise CatalogError("No such lexicon file.", file)
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"The lexicon is not valid TOML ({exc}).", file) from None
        add_lexicon_file(lex, data, str(file))
    return lex


def _mapping_glossary(catalog: str | Path) -> dict[str, dict[str, str]]:
    from convrec.retrieval.mapping import load_mapping

    try:
        mapping = load_mapping(catalog)
    except CatalogError:
        return {}
    return {name: col.glossary for name, col in mapping.items.categorical_columns().items() if col.glossary}


__all__ = [
    "Lexicon",
    "NumericFacet",
    "Phrase",
    "load_lexicon",
    "normalize",
    "schema_lexicon",
    "value_key",
    "words",
]
