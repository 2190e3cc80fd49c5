#!/bin/sh
# $BROWSER for the end-to-end tests: start the Chromium driver detached and exit 0 at once.
# Python's webbrowser.open() waits for this command to exit, so it must not wait for the
# browser; the driver reports its result to the test over a socket
# ($OAUTHKIT_E2E_REPORT_PORT) and its output goes to $OAUTHKIT_E2E_LOG.
here="$(cd "$(dirname "$0")" && pwd)"
setsid nohup node "${here}/browser.mjs" "$1" >>"${OAUTHKIT_E2E_LOG:-/dev/null}" 2>&1 </dev/null &
exit 0
