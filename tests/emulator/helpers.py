"""Assertions shared by the emulator tests."""

from __future__ import annotations

import re
from typing import Any


def assert_report_citations_resolve(run: dict[str, Any]) -> None:
    """Every inline [N] is a listed source, and each cited one has a "[N]: url" line."""
    report = run["report"]
    assert report, "expected a report"
    urls = {source["index"]: source["url"] for source in run["sources"]}
    references = dict(
        (int(n), url) for n, url in re.findall(r"^\[(\d+)\]: (\S+)$", report, re.MULTILINE)
    )
    body = re.sub(r"^\[\d+\]: \S+$", "", report, flags=re.MULTILINE)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body)}
    assert cited, "the report cites nothing"
    assert cited <= set(urls)
    assert set(references) == cited
    assert all(references[n] == urls[n] for n in cited)
