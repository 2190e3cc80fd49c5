#!/usr/bin/env bash
# Install the database servers the storage tests start themselves (PostgreSQL, Redis),
# and gcc for the storage fault-injection shim.
# Idempotent and quiet: does nothing when both are already installed; runs `apt-get update`
# only when a package is missing. The tests start their own servers on 127.0.0.1 in a
# temporary directory and stop them by PID; nothing here starts a service.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# the storage fault tests compile a small LD_PRELOAD shim (tests/storage/faultshim.c)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
