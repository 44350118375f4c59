#!/usr/bin/env bash
# The main job: set up, then a local 3-node lab, the suites, a report, teardown.
# Extra args go to 'swarm-harness run' (see: .venv/bin/swarm-harness run --help).
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
exec .venv/bin/swarm-harness run "$@"
