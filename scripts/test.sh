#!/usr/bin/env bash
# The whole test suite: lint, format check, type check, then pytest.
# Long suites (the fault matrix, benchmarks) have their own commands.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
echo "== ruff check";  .venv/bin/ruff check .
echo "== ruff format"; .venv/bin/ruff format --check .
echo "== mypy";        .venv/bin/mypy
# Two workers, a test file each at a time (its module fixtures stay in one
# process): most tests wait on servers and subprocesses, so two of them
# share two cores well (about 330 s instead of 500 s here).
echo "== pytest";      .venv/bin/python -m pytest -n 2 --dist loadfile --durations=25 "$@"
