"""The values of an entity's fields: named fields, JSON Schema properties, entity rows.

A value is a pure function of the company, the field's name (and schema) and
which item of a list it is, so a field reads the same in every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._companies import FIRST_NAMES, LAST_NAMES, Company
from ._seeded import seeded_rng, slugify

__all__ = ["FINDALL_DEFAULT_FIELDS", "entity_row", "field_value", "schema_value"]

Json = Any

# Fields an entity carries when a run asks for neither ``fields`` nor
# ``output_schema``; these are the fields of the vendor's FindAll example.
FINDALL_DEFAULT_FIELDS: tuple[str, ...] = ("name", "website", "headquarters")


def field_value(entity: Company, field: str, variant: int = 0) -> Json:
    """The value of a named entity field.

    Known names (name, website, headquarters, founded_year, headcount, ...) map to
    the company's attributes; any other name gets a deterministic plausible value
    chosen from hints in the name (``*_year`` an int, ``*email*`` an address, ...).
    ``variant`` tells apart the items of a list of the same field.
    """
    key = field.strip().lower().replace(" ", "_").replace("-", "_")
    known: dict[str, Json] = {
        "name": entity.name,
        "company": entity.name,
        "company_name": entity.name,
        "website": entity.website,
        "url": entity.website,
        "homepage": entity.website,
        "domain": f"{entity.slug}.com",
        "headquarters": entity.headquarters,
        "hq": entity.headquarters,
        "location": entity.headquarters,
        "city": entity.headquarters.split(", ")[0],
        "country": entity.country,
        "founded_year": entity.founded_year,
        "founded": entity.founded_year,
        "year_founded": entity.founded_year,
        "headcount": entity.headcount,
        "employees": entity.headcount,
        "employee_count": entity.headcount,
        "num_employees": entity.headcount,
        "description": entity.description,
        "summary": entity.description,
        "industry": entity.industry,
        "sector": entity.industry,
        "ceo": entity.ceo,
        "source": entity.source_url,
    }
    if key in known and variant == 0:
        return known[key]
    rng = seeded_rng("field", entity.index, key, variant)
    if "year" in key:
        return rng.randint(entity.founded_year, 2025)
    if any(hint in key for hint in ("count", "number", "num_", "size")):
        return rng.randint(1, 500)
    if "email" in key:
        return f"{rng.choice(('info', 'hello', 'press', 'sales'))}@{entity.slug}.com"
    if any(hint in key for hint in ("url", "link", "linkedin", "twitter")):
        return f"{entity.website}/{slugify(key)}"
    if any(hint in key for hint in ("revenue", "funding", "valuation", "raised", "arr")):
        return f"${rng.uniform(1.0, 900.0):.1f}M"
    if any(hint in key for hint in ("founder", "ceo", "cto", "owner", "contact")):
        return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    if key.startswith(("is_", "has_")):
        return rng.random() < 0.5
    label = key.replace("_", " ")
    adjective = rng.choice(("notable", "growing", "established", "emerging", "leading"))
    return f"{entity.name}: {adjective} {label} in {entity.industry}"


def schema_value(
    entity: Company, name: str, schema: Json, depth: int = 0, variant: int = 0
) -> Json:
    """A value of the JSON type that ``schema`` (one property's JSON Schema) declares.

    Handles string, integer, number, boolean, array and object (one level of
    nested ``properties``); a type list such as ``["string", "null"]`` uses its
    first non-null entry; a missing type is treated as string.
    """
    schema = schema if isinstance(schema, dict) else {}
    declared = schema.get("type", "string")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), "string")
    rng = seeded_rng("schema", entity.index, name, declared, variant)
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    natural = field_value(entity, name, variant)
    if declared == "integer":
        return (
            natural
            if isinstance(natural, int) and not isinstance(natural, bool)
            else (rng.randint(1, 1000))
        )
    if declared == "number":
        return (
            float(natural)
            if isinstance(natural, int) and not isinstance(natural, bool)
            else (round(rng.uniform(0.0, 1000.0), 2))
        )
    if declared == "boolean":
        return natural if isinstance(natural, bool) else rng.random() < 0.5
    if declared == "array":
        items = schema.get("items", {"type": "string"})
        count = rng.randint(1, 3)
        return [schema_value(entity, name, items, depth + 1, variant=i + 1) for i in range(count)]
    if declared == "object":
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties and depth < 2:
            return {
                key: schema_value(entity, key, sub, depth + 1) for key, sub in properties.items()
            }
        return {"value": str(natural)}
    return natural if isinstance(natural, str) else str(natural)


def entity_row(
    entity: Company, fields: Sequence[str], output_schema: Json | None
) -> dict[str, Json]:
    """The flat entity map a run reports: the requested fields, then ``source``."""
    row: dict[str, Json] = {field: field_value(entity, field) for field in fields}
    properties = (output_schema or {}).get("properties") or {}
    for name, sub in properties.items():
        row.setdefault(name, schema_value(entity, name, sub))
    row["source"] = entity.source_url
    return row
