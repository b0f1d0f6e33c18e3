"""JSON shapes of the contract: run objects, candidates and SSE messages.

This module turns a run's folded progress into exactly the payloads that
``docs/api-contract.md`` describes; it decides nothing about lifecycles (``_runs``) or
content (``_world``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._candidates import findall_conditions
from ._clock import Timestamps
from ._companies import Company
from ._field_values import entity_row, field_value, schema_value
from ._findall_runs import FindAllProgress, FindAllRun
from ._search_runs import SearchProgress, SearchRun
from ._seeded import seeded_rng
from ._serp import SOURCES_PER_PAGE, SerpEntry, serp_page, subqueries
from ._timeline import (
    CandidateEnriched,
    CandidateGenerated,
    CandidateJudged,
    Entry,
    ErrorRaised,
    Finished,
    Heartbeat,
    PageFetched,
    PhaseStarted,
    UnknownNotice,
)

__all__ = ["SseMessage", "findall_json", "search_json", "sse_messages"]

Json = Any


@dataclass(frozen=True)
class SseMessage:
    """One server-sent event, ready to frame."""

    event_id: int
    event_type: str
    data: dict[str, Json]


# --- FindAll ------------------------------------------------------------------


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


def _candidate_json(
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
            _candidate_json(run, seq, progress.verdicts[seq], progress.enriched.get(seq, []))
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


# --- search -------------------------------------------------------------------


@dataclass(frozen=True)
class _Gathered:
    """What a search has read: the SERP entries of its fetched pages and its sources."""

    entries: list[SerpEntry]
    sources: list[tuple[SerpEntry, float]]  # (entry, fetched at), index = position + 1


def _gathered(run: SearchRun, progress: SearchProgress) -> _Gathered:
    spec = run.spec
    entries: list[SerpEntry] = []
    sources: list[tuple[SerpEntry, float]] = []
    seen: set[str] = set()
    for page, fetched_at in enumerate(progress.page_times):
        query_index, page_number = spec.page_query(page)
        serp = serp_page(
            spec.queries[query_index], page_number, spec.include_domains, spec.exclude_domains
        )
        entries += serp
        for entry in serp[:SOURCES_PER_PAGE]:
            if entry.url not in seen:
                seen.add(entry.url)
                sources.append((entry, fetched_at))
    return _Gathered(entries, sources)


def _merged_results(entries: list[SerpEntry], limit: int) -> list[dict[str, str]]:
    results: dict[str, dict[str, str]] = {}
    for entry in entries:
        results.setdefault(
            entry.url, {"title": entry.title, "url": entry.url, "snippet": entry.snippet}
        )
    return list(results.values())[:limit]


def _findings(sources: list[tuple[SerpEntry, float]]) -> list[dict[str, Json]]:
    """One finding per subquery that has at least one source."""
    by_subquery: dict[str, list[SerpEntry]] = {}
    for entry, _ in sources:
        by_subquery.setdefault(entry.subquery, []).append(entry)
    findings = []
    for subquery, entries in by_subquery.items():
        rng = seeded_rng("finding", subquery)
        findings.append(
            {
                "subquery": subquery,
                "answer": entries[0].snippet,
                "citations": [e.url for e in entries[:3]],
                "confidence": round(rng.uniform(0.55, 0.97), 2),
                "evidence": f"{len(entries)} source(s) agree, led by {entries[0].domain}.",
            }
        )
    return findings


def _report(
    run: SearchRun, sources: list[tuple[SerpEntry, float]], progress: SearchProgress
) -> str | None:
    """A Markdown report whose every ``[N]`` is a listed source with a ``[N]: url`` line."""
    if not sources:
        return None
    index_of = {entry.url: number for number, (entry, _) in enumerate(sources, start=1)}
    title = run.spec.objective or f"Research report: {run.spec.queries[0]}"
    lines = [f"## {title}", ""]
    if progress.state == "cancelled":
        pages = f"{len(progress.page_times)} of {run.spec.pages_target}"
        lines += [f"_Partial report: the run was cancelled after {pages} pages._", ""]
    cited: list[int] = []
    for finding in _findings(sources):
        markers = [index_of[url] for url in finding["citations"]]
        cited += [n for n in markers if n not in cited]
        lines += [
            f"### {str(finding['subquery']).capitalize()}",
            f"{finding['answer']} " + "".join(f"[{n}]" for n in markers),
            "",
        ]
    lines += [f"[{n}]: {sources[n - 1][0].url}" for n in sorted(cited)]
    return "\n".join(lines)


def search_json(run: SearchRun, progress: SearchProgress, ts: Timestamps) -> dict[str, Json]:
    """The search run object as of ``progress``.

    Sources accumulate as pages arrive; results, findings and the report appear
    on completion, and a cancelled run keeps what its fetched pages gave.
    """
    spec = run.spec
    gathered = _gathered(run, progress)
    keeps_results = progress.state in ("completed", "cancelled")
    results = _merged_results(gathered.entries, spec.limit) if keeps_results else []
    findings = _findings(gathered.sources) if keeps_results else None
    report = _report(run, gathered.sources, progress) if keeps_results else None
    pages = len(progress.page_times)
    return {
        "search_id": run.run_id,
        "status": progress.state,
        "queries": list(spec.queries),
        "limit": spec.limit,
        "depth": spec.depth,
        "country": spec.country,
        "language": spec.language,
        "createdAt": ts.zulu(run.created_at),
        # As in the vendor's example, only a completed search has a completedAt.
        "completedAt": ts.zulu(progress.finished_at)
        if progress.state == "completed" and progress.finished_at is not None
        else None,
        "credits": run.credits(progress),
        "results": results,
        "pagesFetched": pages,
        "pagesTarget": spec.pages_target,
        "error": progress.error,
        "report": report,
        "findings": findings,
        "sources": [
            {
                "index": number,
                "url": entry.url,
                "title": entry.title,
                "domain": entry.domain,
                "fetched": ts.zulu(fetched_at),
                "quality": entry.quality,
                "first_seen_subquery": entry.subquery,
            }
            for number, (entry, fetched_at) in enumerate(gathered.sources, start=1)
        ],
        "usage": {
            "planner_calls": 0 if progress.state == "queued" else 1,
            "grader_calls": pages,
            "synth_calls": 1 if report else 0,
            "search_queries": len({entry.subquery for entry, _ in gathered.sources}),
            "pages_fetched": pages,
            "tokens": 150 + 350 * pages + (1200 if report else 0),
        },
        "prompt": spec.objective,
        "reranked": spec.objective is not None,
    }


# --- event streams ------------------------------------------------------------


def _nested(event_type: str, event_id: int, timestamp: str, data: Json) -> dict[str, Json]:
    """The nested event form: ``{"type", "event_id", "timestamp", "data"}``."""
    return {"type": event_type, "event_id": str(event_id), "timestamp": timestamp, "data": data}


def _findall_message(
    run: FindAllRun, entries: list[Entry], position: int, event_id: int, ts: Timestamps
) -> SseMessage | None:
    event = entries[position].event
    time, timestamp = event.time, ts.offset(event.time)
    match event:
        case PhaseStarted() | Heartbeat() | Finished():
            # A status event carries the run exactly as it stood at that event.
            progress = FindAllRun.progress_of(entries[: position + 1])
            run_json = findall_json(run, progress, time, ts)
            return SseMessage(
                event_id, "findall.status", _nested("findall.status", event_id, timestamp, run_json)
            )
        case CandidateGenerated(seq=seq):
            candidate = _candidate_json(run, seq, "generated", [])
            kind = "findall.candidate.generated"
        case CandidateJudged(seq=seq, verdict=verdict):
            progress = FindAllRun.progress_of(entries[: position + 1])
            candidate = _candidate_json(run, seq, verdict, progress.enriched.get(seq, []))
            kind = f"findall.candidate.{verdict}"
        case CandidateEnriched(seq=seq):
            progress = FindAllRun.progress_of(entries[: position + 1])
            candidate = _candidate_json(run, seq, "matched", progress.enriched.get(seq, []))
            kind = "findall.candidate.enriched"
        case ErrorRaised(message=message):
            data = {
                "type": "error",
                "event_id": str(event_id),
                "timestamp": timestamp,
                "error": {"message": message},
            }
            return SseMessage(event_id, "error", data)
        case UnknownNotice(type_name=type_name):
            note = {"objective": run.spec.query, "note": "planner revised its search plan"}
            return SseMessage(event_id, type_name, _nested(type_name, event_id, timestamp, note))
        case _:
            return None
    return SseMessage(event_id, kind, _nested(kind, event_id, timestamp, candidate))


def _search_message(
    run: SearchRun, entries: list[Entry], position: int, event_id: int, ts: Timestamps
) -> SseMessage | None:
    event = entries[position].event
    match event:
        case PageFetched(page=page):
            data = {
                "type": "run.progress",
                "pagesFetched": page + 1,
                "pagesTarget": run.spec.pages_target,
            }
            return SseMessage(event_id, "run.progress", data)
        case Finished(state=state):
            progress = SearchRun.progress_of(entries[: position + 1])
            kind = f"run.{state}"
            run_json = search_json(run, progress, ts)
            return SseMessage(
                event_id, kind, _nested(kind, event_id, ts.zulu(event.time), run_json)
            )
        case UnknownNotice(type_name=type_name):
            data = {
                "type": type_name,
                "subqueries": [s for q in run.spec.queries for s in subqueries(q)],
            }
            return SseMessage(event_id, type_name, data)
        case _:
            return None


def sse_messages(
    run: FindAllRun | SearchRun, after_id: int, at: float, ts: Timestamps
) -> list[SseMessage]:
    """Messages with an id above ``after_id`` among the events that happened by ``at``."""
    entries = list(run.timeline.until(at))
    messages: list[SseMessage] = []
    for position, entry in enumerate(entries):
        if entry.event_id is None or entry.event_id <= after_id:
            continue
        if isinstance(run, FindAllRun):
            message = _findall_message(run, entries, position, entry.event_id, ts)
        else:
            message = _search_message(run, entries, position, entry.event_id, ts)
        if message is not None:
            messages.append(message)
    return messages
