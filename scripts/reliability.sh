#!/usr/bin/env bash
# The long fault-injection suite (200 seeds x 6 asset kinds; docs/reliability.md has its
# time on 2 cores). Prints the summary table; exits non-zero when any run was unclean.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m tests.reliability.matrix --seeds "${SEEDS:-200}" --jobs "${JOBS:-2}" "$@"
