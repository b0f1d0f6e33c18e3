"""A few seeds of the fault-injection suite in every test run (the long run: README)."""

from __future__ import annotations

from tests.reliability.matrix import KINDS, fault_mix, run_matrix

#: Seed 4 draws an outage (an impossible run); the others must survive their faults.
SEEDS = (0, 1, 4)


def test_a_few_seeds_of_the_fault_matrix() -> None:
    assert fault_mix(4).outage and not fault_mix(0).outage and not fault_mix(1).outage
    summary = run_matrix(SEEDS)
    problems = [(r.seed, r.kind, r.problems) for r in summary.results if r.problems]
    assert problems == []
    outcomes = {(r.seed, r.kind): r.outcome for r in summary.results}
    assert all(outcomes[(4, kind)] == "clean failure" for kind in KINDS)
    assert all(outcomes[(seed, kind)] == "completed" for seed in (0, 1) for kind in KINDS)
    injected = sum((r.faults for r in summary.results), start=type(summary.results[0].faults)())
    assert injected["server_error"] > 0 and injected["stream_drop"] > 0
