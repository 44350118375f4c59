#!/usr/bin/env bash
# The main job: set up, then a local 3-node lab, the suites, a report, teardown.
# Extra args go to 'swarm-harness run' (see: .venv/bin/swarm-harness run --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/swarm-harness run "$@"
