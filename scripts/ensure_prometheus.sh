#!/usr/bin/env bash
# Make sure a Prometheus server binary is on this machine for the deploy tests (tests/deploy).
# Idempotent and fast when present: it only installs Debian's `prometheus` package when no
# `prometheus` binary is found. Called by `make test` before pytest. It never fails the build:
# when it cannot install (no root, no apt, no network) it says so loudly and the end-to-end
# Prometheus test then skips with the same message.
set -uo pipefail

if command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]; then
  exit 0
fi
warn() { echo "[ensure_prometheus] WARNING: $*" >&2; }
if ! command -v apt-get >/dev/null 2>&1; then
  warn "prometheus is not installed and apt-get is absent: the Prometheus end-to-end test will SKIP"
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    warn "prometheus is not installed and this user cannot install packages: the Prometheus end-to-end test will SKIP"
    exit 0
  fi
fi
echo "[ensure_prometheus] installing Debian package prometheus (once)" >&2
export DEBIAN_FRONTEND=noninteractive
if "${SUDO[@]}" apt-get update -qq \
  && "${SUDO[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null; then
  # The package's service is not wanted here (no init in containers; the tests start their own).
  echo "[ensure_prometheus] installed $(prometheus --version 2>&1 | head -1)" >&2
else
  warn "apt-get install prometheus failed: the Prometheus end-to-end test will SKIP"
fi
exit 0
