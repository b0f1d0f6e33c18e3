#!/usr/bin/env bash
# The long tests kept out of the README's test command (marked slow): the load
# test, an outage seed of the fault matrix and the Celery pool backfill. The
# 200-seed matrix is scripts/reliability.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh  # Redis and PostgreSQL, for the Celery backfill
exec .venv/bin/python -m pytest -m slow "$@"
