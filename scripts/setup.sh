#!/usr/bin/env bash
# Installs everything the harness needs on a Debian 12 machine (run as root):
# Debian packages for the local lab, then a virtualenv in .venv with the harness.
set -euo pipefail
cd "$(dirname "$0")/.."

# qemu-system-x86, qemu-utils and e2fsprogs: the "vm" lab machines (--kind vm);
# user-mode-linux, e2fsprogs and gcc (a small preload library for hosts with AVX-512/AMX):
# the "uml" lab machines (--kind uml).
# chromium: the lab test that opens reports/report.html in a headless browser.
PACKAGES=(debootstrap systemd-container iproute2 iptables openssh-client tcpdump util-linux ca-certificates
  python3-venv qemu-system-x86 qemu-utils e2fsprogs user-mode-linux gcc libc6-dev chromium)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v terraform >/dev/null; then
  echo "setup: error: terraform (>= 1.4) is not on PATH; install it, then rerun (see README)" >&2
  exit 2
fi
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-12)
if [[ ! -f $stamp ]]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  rm -f .venv/.installed-* && touch "$stamp"
fi
echo "setup: ready (terraform $(terraform version -json 2>/dev/null | python3 -c 'import json,sys;print(json.load(sys.stdin)["terraform_version"])' 2>/dev/null || echo '?'))"
