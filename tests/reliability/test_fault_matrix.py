"""A few seeds of the fault-injection suite in every test run (the long run: README)."""

from __future__ import annotations

import pytest

from tests.reliability.matrix import run_matrix
from tests.reliability.matrix_paths import KINDS, fault_mix


def test_a_few_seeds_of_the_fault_matrix() -> None:
    """Seeds whose faults every asset kind must survive."""
    seeds = (0, 1)
    assert not any(fault_mix(seed).outage for seed in seeds)
    summary = run_matrix(seeds)
    problems = [(r.seed, r.kind, r.problems) for r in summary.results if r.problems]
    assert problems == []
    outcomes = {(r.seed, r.kind): r.outcome for r in summary.results}
    assert all(outcomes[(seed, kind)] == "completed" for seed in seeds for kind in KINDS)
    injected = sum((r.faults for r in summary.results), start=type(summary.results[0].faults)())
    assert injected["server_error"] > 0 and injected["stream_drop"] > 0


@pytest.mark.slow
def test_an_outage_seed_fails_cleanly() -> None:
    """Seed 4 draws an outage (an impossible run): every kind fails cleanly.
    About 30 s of retry budgets: in the long suite (``bash scripts/slow.sh``)."""
    assert fault_mix(4).outage
    summary = run_matrix((4,))
    assert [(r.kind, r.problems) for r in summary.results if r.problems] == []
    assert all(r.outcome == "clean failure" for r in summary.results)
