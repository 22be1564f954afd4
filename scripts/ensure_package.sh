#!/usr/bin/env bash
# Make sure a Debian package the project uses from outside Python is on this machine.
#   scripts/ensure_package.sh PACKAGE PROBE
# PROBE is a command name (`prometheus`) or `lib:NAME` for a shared library (`lib:libjemalloc.so.2`).
# Idempotent and fast when present: apt-get runs only when the probe fails. It never fails the
# build: when it cannot install (no root, no apt, no network) it says so loudly, and whatever
# needs the package says so again (a skipped test, training on glibc malloc).
set -uo pipefail
package="$1"
probe="$2"
present() {
  case "$probe" in
    lib:*) ldconfig -p 2>/dev/null | grep -q "${probe#lib:}" ;;
    *) command -v "$probe" >/dev/null 2>&1 || [ -x "/usr/bin/$probe" ] ;;
  esac
}
present && exit 0
warn() { echo "[ensure_package] WARNING: $*" >&2; }
if ! command -v apt-get >/dev/null 2>&1; then
  warn "$package is not installed and apt-get is absent"
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    warn "$package is not installed and this user cannot install packages"
    exit 0
  fi
fi
echo "[ensure_package] installing Debian package $package (once)" >&2
export DEBIAN_FRONTEND=noninteractive
if { "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
  || { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$package" >/dev/null; }; } \
  && present; then
  echo "[ensure_package] installed $package" >&2
else
  warn "apt-get install $package failed"
fi
exit 0
