"""JSON shapes of the contract for FindAll: the run object and its candidates.

These functions turn a FindAll run's folded progress into exactly the payloads
that ``docs/api-contract.md`` describes; they decide nothing about lifecycles
(``_findall_runs``) or content (``_world``).
"""

from __future__ import annotations

from typing import Any

from ._candidates import findall_conditions
from ._clock import Timestamps
from ._companies import Company
from ._field_values import entity_row, field_value, schema_value
from ._findall_runs import FindAllProgress, FindAllRun
from ._seeded import seeded_rng

__all__ = ["candidate_json", "findall_json"]

Json = Any


def _confidence(company: Company, key: str) -> str:
    return ("high", "medium", "low")[
        seeded_rng("confidence", company.index, key).choice((0, 0, 1, 2))
    ]


def _basis(company: Company, key: str, reasoning: str) -> dict[str, Json]:
    wiki = "wikipedia.org" in company.source_url
    title = f"{company.name} - Wikipedia" if wiki else f"About {company.name}"
    return {
        "field": key,
        "citations": [
            {
                "title": title,
                "url": company.source_url,
                "excerpts": [company.description],
            }
        ],
        "reasoning": reasoning,
        "confidence": _confidence(company, key),
    }


def candidate_json(
    run: FindAllRun, seq: int, match_status: str, enrichment_indices: list[int]
) -> dict[str, Json]:
    """A rich candidate; ``output``/``basis`` are null until it has been judged."""
    company = run.candidate(seq).company
    output: dict[str, Json] | None = None
    basis: list[dict[str, Json]] | None = None
    if match_status in ("matched", "unmatched"):
        output, basis = {}, []
        matched = match_status == "matched"
        for number, condition in enumerate(findall_conditions(run.spec.query)):
            # An unmatched candidate fails the first condition.
            holds = matched or number > 0
            output[condition.name] = {
                "value": "yes" if holds else "no",
                "type": "match_condition",
                "is_matched": holds,
            }
            verdict = "satisfies" if holds else "does not satisfy"
            basis.append(
                _basis(company, condition.name, f"{company.name} {verdict} the condition.")
            )
        if matched:
            for key, value in _entity_values(run, seq, enrichment_indices).items():
                output[key] = {"value": value, "type": "enrichment"}
                basis.append(_basis(company, key, f"Stated on {company.source_url}."))
    return {
        "candidate_id": company.candidate_id,
        "name": company.name,
        "url": company.website,
        "description": company.description,
        "match_status": match_status,
        "output": output,
        "basis": basis,
    }


def _entity_values(run: FindAllRun, seq: int, enrichment_indices: list[int]) -> dict[str, Json]:
    """The entity's field values, including the enrichments applied to it (no ``source``)."""
    company = run.candidate(seq).company
    row = entity_row(company, run.spec.base_fields, run.spec.output_schema)
    row.pop("source")
    for index in enrichment_indices:
        enrichment = run.enrichments[index]
        for name in enrichment.fields:
            row.setdefault(name, field_value(company, name))
        properties = (enrichment.output_schema or {}).get("properties") or {}
        for name, schema in properties.items():
            row.setdefault(name, schema_value(company, name, schema))
    return row


def _entity_json(run: FindAllRun, seq: int, progress: FindAllProgress) -> dict[str, Json]:
    row = _entity_values(run, seq, progress.enriched.get(seq, []))
    row["source"] = run.candidate(seq).company.source_url
    return row


def _echoed_fields(run: FindAllRun, at: float) -> list[str] | None:
    """The ``fields`` a run reports: its base fields plus enrichment fields asked so far."""
    names = list(run.spec.base_fields)
    for enrichment in run.enrichments_at(at):
        names += [n for n in enrichment.names if n not in names]
    return names or None


def _echoed_schema(run: FindAllRun, at: float) -> dict[str, Json] | None:
    """The ``output_schema`` a run reports, with enrichment schema properties merged in."""
    if run.spec.output_schema is None:
        return None
    schema = dict(run.spec.output_schema)
    properties = dict(schema.get("properties") or {})
    for enrichment in run.enrichments_at(at):
        properties.update((enrichment.output_schema or {}).get("properties") or {})
    schema["properties"] = properties
    return schema


def _findall_status(run: FindAllRun, progress: FindAllProgress) -> Json:
    """A plain string while active; the rich status object once terminal."""
    if progress.is_active:
        return progress.state
    return {
        "status": progress.state,
        "is_active": False,
        "metrics": {
            "generated_candidates_count": len(progress.generated),
            "matched_candidates_count": len(progress.matched),
        },
        "termination_reason": progress.reason,
    }


def findall_json(
    run: FindAllRun, progress: FindAllProgress, at: float, ts: Timestamps
) -> dict[str, Json]:
    """The FindAll run object as of ``progress`` (folded at virtual time ``at``).

    A cancelled run's partial result is discarded (entities [], count 0,
    candidates null) while its credits stay charged; a failed run keeps the
    entities it had matched but has no candidates.
    """
    cancelled = progress.state == "cancelled"
    entities = [] if cancelled else [_entity_json(run, s, progress) for s in progress.matched]
    candidates = None
    if progress.state == "completed":
        candidates = [
            candidate_json(run, seq, progress.verdicts[seq], progress.enriched.get(seq, []))
            for seq in progress.generated
        ]
    return {
        "findall_id": run.run_id,
        "status": _findall_status(run, progress),
        "query": run.spec.query,
        "entities": entities,
        "count": len(entities),
        "credits": run.credits(progress),
        "fields": _echoed_fields(run, at),
        "output_schema": _echoed_schema(run, at),
        "candidates": candidates,
        "metadata": run.spec.metadata,
        "findall_schema": {
            "objective": run.spec.query,
            "conditions": [c.as_json() for c in findall_conditions(run.spec.query)],
            "generator": run.spec.generator,
        },
        "error": progress.error,
        "createdAt": ts.offset(run.created_at),
        "completedAt": None if progress.finished_at is None else ts.offset(progress.finished_at),
    }
