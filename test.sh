#!/usr/bin/env bash
# The one test command: the unit tests plus every notebook executed under the smoke profile.
# Extra arguments go to pytest, e.g. ./test.sh tests/test_runner.py -x
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
