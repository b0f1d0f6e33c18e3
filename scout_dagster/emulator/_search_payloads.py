"""JSON shapes of the contract for search: the run object with its results and report.

These functions turn a search run's folded progress into exactly the payloads
that ``docs/api-contract.md`` describes; they decide nothing about lifecycles
(``_search_runs``) or content (``_serp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._clock import Timestamps
from ._search_runs import SearchProgress, SearchRun
from ._seeded import seeded_rng
from ._serp import SOURCES_PER_PAGE, SerpEntry, serp_page

__all__ = ["search_json"]

Json = Any


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
