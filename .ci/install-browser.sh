#!/usr/bin/env bash
# Install what the end-to-end browser tests (tests/e2e) need: Debian's chromium
# (/usr/bin/chromium) and the npm package playwright-core that drives it.
#
# Never downloads a browser build: playwright-core is installed with its install scripts
# off and PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, and it is pointed at /usr/bin/chromium.
# Idempotent: apt only when /usr/bin/chromium is missing, npm only when the lockfile changed.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
e2e_dir="${repo_root}/tests/e2e"
stamp="${e2e_dir}/node_modules/.oauthkit-install-stamp"

if [[ ! -x /usr/bin/chromium ]]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: /usr/bin/chromium is missing and there is no apt-get" >&2
    exit 1
  fi
  sudo_cmd=()
  if [[ "$(id -u)" != "0" ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
fi

for tool in node npm; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    echo "install-browser: '${tool}' is not on PATH (Node.js 20+ is required)" >&2
    exit 1
  fi
done

cd "${e2e_dir}"
wanted="$({ node --version; cat package.json; cat package-lock.json 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)"
if [[ -f "${stamp}" && -f node_modules/playwright-core/package.json ]] \
    && [[ "$(cat "${stamp}")" == "${wanted}" ]]; then
  echo "install-browser: chromium and tests/e2e/node_modules are up to date"
  exit 0
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm_flags=(--no-audit --no-fund --ignore-scripts --loglevel=error)
if [[ -f package-lock.json ]]; then
  npm ci "${npm_flags[@]}" >/dev/null
else
  npm install "${npm_flags[@]}" >/dev/null
  wanted="$({ node --version; cat package.json; cat package-lock.json; } | sha256sum | cut -d' ' -f1)"
fi
echo "${wanted}" > "${stamp}"
echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium), playwright-core $(node -p "require('./node_modules/playwright-core/package.json').version")"
