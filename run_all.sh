#!/usr/bin/env bash
# Runs every notebook under one profile: ./run_all.sh [--profile cpu] [--only 00 02] [--list] [--wait]
# Outputs go to outputs/<profile>/<NN_name>/; see `./run_all.sh --help`.
set -euo pipefail
# No cd: relative paths given as arguments (e.g. --profile my.yaml) stay relative to the caller.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/scripts/bootstrap.sh"
exec "$here/.venv/bin/python" -m raml_utils.runner "$@"
