#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs oauthkit with its development
# extras into .venv and the test servers (oidc-provider from npm), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
bash .ci/install-oidc.sh
bash .ci/install-services.sh
bash .ci/install-browser.sh
exec .venv/bin/python -m pytest -q "$@"
