#!/usr/bin/env bash
# The long tests kept out of the README's test command (marked slow): the load
# test and an outage seed of the fault matrix. The 200-seed matrix is scripts/reliability.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -m slow "$@"
