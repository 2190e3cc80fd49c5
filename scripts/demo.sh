#!/usr/bin/env bash
# Run `oauthkit demo` on a fresh machine: installs oauthkit into .venv, then runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh testing
exec .venv/bin/oauthkit demo "$@"
