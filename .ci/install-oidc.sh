#!/usr/bin/env bash
# Install the Node dependencies of the oidc-provider test server (tests/oidc).
#
# Idempotent: skips npm when node_modules was installed from the same package.json and
# package-lock.json (and the same Node version). Needs only node, npm and registry access.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
oidc_dir="${repo_root}/tests/oidc"
stamp="${oidc_dir}/node_modules/.oauthkit-install-stamp"

for tool in node npm; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "install-oidc: '${tool}' is not on PATH (Node.js 20+ is required)" >&2
    exit 1
  fi
done

cd "${oidc_dir}"

hash_inputs() {
  {
    node --version
    cat package.json
    if [[ -f package-lock.json ]]; then cat package-lock.json; fi
  } | sha256sum | cut -d' ' -f1
}

wanted="$(hash_inputs)"
if [[ -f "${stamp}" && -f node_modules/oidc-provider/package.json ]] \
    && [[ "$(cat "${stamp}")" == "${wanted}" ]]; then
  echo "install-oidc: tests/oidc/node_modules is up to date"
  exit 0
fi

npm_flags=(--no-audit --no-fund --ignore-scripts --loglevel=error)
if [[ -f package-lock.json ]]; then
  npm ci "${npm_flags[@]}" >/dev/null
else
  echo "install-oidc: no package-lock.json, falling back to npm install" >&2
  npm install "${npm_flags[@]}" >/dev/null
  wanted="$(hash_inputs)"  # npm install wrote the lockfile
fi

echo "${wanted}" > "${stamp}"
echo "install-oidc: installed oidc-provider $(node -p "require('./node_modules/oidc-provider/package.json').version")"
