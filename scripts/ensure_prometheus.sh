#!/usr/bin/env bash
# Make sure a Prometheus server binary is on this machine for the deploy tests (tests/deploy).
# Called by `make test` before pytest and by tests/deploy/prom.py; never fails the build: when
# it cannot install, the end-to-end Prometheus test skips with a loud message.
exec bash "$(dirname "$0")/ensure_package.sh" prometheus prometheus
