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
echo "== pytest";      .venv/bin/python -m pytest --durations=25 "$@"
