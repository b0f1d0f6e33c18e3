#!/usr/bin/env bash
# The main job: materialize the example assets (against the local emulator
# unless SCOUT_API_KEY is set) and print where the Parquet tables are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m examples.main_job "$@"
