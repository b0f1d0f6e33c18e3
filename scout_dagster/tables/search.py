"""A search run as tables: its results, sources and findings, and its report.

One row per result (ranked as the run returned them), per numbered source
and per finding; result and source ids are their URLs' (see :mod:`.ids`),
a finding's the hash of its subquery and answer. The schemas are in
:mod:`.schemas`, the provenance columns in :mod:`.provenance`.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from .._models import SearchRun
from .ids import short_hash, url_ids
from .provenance import Provenance, table_with_provenance
from .schemas import FINDINGS_SCHEMA, RESULTS_SCHEMA, SOURCES_SCHEMA

__all__ = ["SearchTables", "search_tables"]


@dataclasses.dataclass(frozen=True)
class SearchTables:
    results: pa.Table
    sources: pa.Table
    findings: pa.Table
    #: The run's Markdown report, as the API sent it ("" when it sent none).
    report: str


def search_tables(run: SearchRun, provenance: Provenance) -> SearchTables:
    """Results, sources and findings of a search run, and its Markdown report."""
    results = run.results
    sources = run.sources or []
    findings = run.findings or []
    results_table = table_with_provenance(
        {
            "result_id": url_ids([r.url for r in results]).to_pylist(),
            "rank": list(range(1, len(results) + 1)),
            "title": [r.title for r in results],
            "source_url": [r.url for r in results],
            "snippet": [r.snippet for r in results],
        },
        RESULTS_SCHEMA,
        provenance,
    )
    sources_table = table_with_provenance(
        {
            "source_id": url_ids([s.url for s in sources]).to_pylist(),
            "source_index": [s.index for s in sources],
            "title": [s.title for s in sources],
            "source_url": [s.url for s in sources],
            "domain": [s.domain for s in sources],
            "quality": [s.quality for s in sources],
            "first_seen_subquery": [s.first_seen_subquery for s in sources],
            "source_fetched_at": [s.fetched for s in sources],
        },
        SOURCES_SCHEMA,
        provenance,
    )
    finding_keys = [f"{f.subquery or ''}\x1f{f.answer or ''}" for f in findings]
    findings_table = table_with_provenance(
        {
            "finding_id": [short_hash(key) for key in finding_keys],
            "finding_index": list(range(1, len(findings) + 1)),
            "subquery": [f.subquery for f in findings],
            "answer": [f.answer for f in findings],
            "confidence": [f.confidence for f in findings],
            "evidence": [f.evidence for f in findings],
            "citations": [list(f.citations) for f in findings],
            "source_url": [f.citations[0] if f.citations else None for f in findings],
        },
        FINDINGS_SCHEMA,
        provenance,
    )
    return SearchTables(
        results=results_table,
        sources=sources_table,
        findings=findings_table,
        report=run.report or "",
    )
