#!/usr/bin/env bash
# The project's own tests: set up, then lint, type-check and run every test
# (unit tests, then live local-lab tests) serially. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# The lab needs root (namespaces, bridges, machines). As root this runs as it is;
# from another user it re-runs itself through sudo, where there is one.
if [[ $EUID -ne 0 ]]; then
  if command -v sudo >/dev/null; then exec sudo --preserve-env=PATH,CI "$0" "$@"; fi
  echo "error: $0 needs root, and sudo is not installed (run it as root)" >&2
  exit 2
fi
./scripts/setup.sh
.venv/bin/ruff check harness suites tests benchmarks conftest.py
.venv/bin/mypy
[[ -f "${TF_CLI_CONFIG_FILE:-}" ]] || unset TF_CLI_CONFIG_FILE
terraform fmt -check -recursive terraform
.venv/bin/python -m pytest tests -p no:cacheprovider -ra --durations=30 "$@"
