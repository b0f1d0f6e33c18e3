"""History and the current state, as assets: the runs ledger and the current entities.

Every materialization of a Scout table replaces its table or partition, and
what a remote run cost lives only in Dagster's metadata. Two factories make
both into tables:

``build_scout_runs_ledger(*scout_assets)``
    One unpartitioned table (``scout_runs``), one row per remote Scout run of
    the given multi-assets, rebuilt from the Dagster instance's event log at
    each materialization, so it replaces itself idempotently: materializing
    it twice with nothing new in between gives the same rows. It reads

    - the materializations of each multi-asset's primary table (``entities``
      for FindAll, ``results`` for search: the one that carries
      ``scout/credits``, once per remote run), every partition, paged with
      ``instance.fetch_materializations``;
    - the remote runs that ended without tables (a deadline, a credit budget,
      a termination, a run failed or cancelled on the server): the execution
      records each as an observation of the primary table
      (``scout/outcome: failed`` with ``scout/run_id``, ``scout/final_state``
      and ``scout/credits``) before it fails the step, paged with
      ``instance.fetch_observations``. An observation survives a step retry
      (``STEP_UP_FOR_RETRY`` keeps no metadata of the failed attempt), and
      Dagster 1.13's open-source storages keep no asset failure events;
    - the materializations and failure observations of the enrich and
      extend assets among them (``build_findall_enrich_assets``,
      ``build_findall_extend_assets``), whose ``scout/credits`` is what each
      phase added to its run: added to the run's row, once per phase (its
      idempotency key, ``scout/phase_key``), from its materialization with the
      most credits, else its latest failure. Their upstream FindAll assets
      must be given too.

    **One row per remote run.** A remote run recorded more than once (two
    Dagster runs of one partition at once, sharing one remote run; a
    re-execution that adopted the run its parent had already materialized,
    or had failed on while it still ran, as a termination with
    ``cancel_on_termination`` off leaves it) is one row: its earliest
    materialization wins over any failure (a materialization's figures are
    final: the run had ended and its body was read; the earliest never
    changes as later copies arrive); a run never materialized takes its
    latest failure (the most recent credits seen).
    ``times_recorded`` says how many materializations and failures of the
    assets that create runs named it (0: a run started and given up, say one
    that had ended at its first look and was replaced; its credits were never
    read, they are null).

    **What it cannot see.** A remote run whose step failed with an error
    other than ``RunFailed`` (the API unreachable after the run was
    created): its credits were never read.

    A team's monthly spend is one ``GROUP BY`` (DuckDB; ``team`` is the
    primary table's first ``team:`` owner, without the prefix)::

        SELECT team, date_trunc('month', recorded_at) AS month,
               sum(credits) AS credits, count(*) AS runs
        FROM scout_runs
        GROUP BY team, month
        ORDER BY month, team

``build_current_entities(findall_assets)``
    An unpartitioned ``<name>_entities_current`` that takes every partition
    of ``<name>_entities`` as its input and keeps one row per
    ``entity_id``: the values of its latest sighting (by ``fetched_at``,
    ties by ``run_id``), ``first_seen_at``, ``last_seen_at``, ``runs_seen``,
    ``partitions_seen``, ``last_run_id`` and ``last_partition_key``. Pure
    pyarrow (sort, group-by, aggregate); the input may be what any IO
    manager returns (a ``pyarrow.Table``, a pandas or polars DataFrame).

    It is recomputed from the partitions that exist: a partition that was
    re-materialized holds only its latest run, so the earlier run of it no
    longer counts (in ``first_seen_at``, ``runs_seen``). Keeping them would
    need the asset to read its own previous value, and Dagster refuses an
    asset that depends on itself unless it is time-partitioned (each
    partition reading earlier ones), while this one is unpartitioned; the
    history of runs is the ledger's.
"""

from ..tables.current import current_entities
from ._current_entities import build_current_entities
from ._ledger_rows import LEDGER_SCHEMA, runs_ledger
from ._runs_ledger import build_scout_runs_ledger

__all__ = [
    "LEDGER_SCHEMA",
    "build_current_entities",
    "build_scout_runs_ledger",
    "current_entities",
    "runs_ledger",
]
