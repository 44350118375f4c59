#!/usr/bin/env bash
# The project's own tests: set up, then lint, type-check and run every test
# (unit tests, then live local-lab tests) serially. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check harness suites tests benchmarks conftest.py
.venv/bin/mypy
[[ -f "${TF_CLI_CONFIG_FILE:-}" ]] || unset TF_CLI_CONFIG_FILE
terraform fmt -check -recursive terraform
.venv/bin/python -m pytest tests -p no:cacheprovider -ra --durations=30 "$@"
