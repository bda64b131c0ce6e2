#!/usr/bin/env bash
# Runs a command with Debian's chromium, for the consent page's test in a
# real headless browser: installs the package with apt-get when it is
# missing (as root, or with passwordless sudo), and exports
# KITEGATE_TEST_CHROMIUM (the browser's path).
#
#   infra/local/chromium.sh go test ./internal/authz/...
#
# In CI (CI=true) a browser that cannot be installed fails the run;
# elsewhere the browser test skips, saying why.
set -euo pipefail

if [ -n "${KITEGATE_TEST_CHROMIUM:-}" ]; then
	exec "$@"
fi
bin=$(command -v chromium || true)
if [ -z "$bin" ]; then
	install='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium'
	if [ "$(id -u)" = 0 ]; then
		bash -c "$install" >&2 || true
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
		sudo -n bash -c "$install" >&2 || true
	fi
	bin=$(command -v chromium || true)
fi
if [ -z "$bin" ]; then
	echo "chromium: Debian's chromium package is missing and could not be installed (apt-get needs root or passwordless sudo)" >&2
	if [ "${CI:-}" = "true" ]; then exit 1; fi
	echo "chromium: running without it; the browser test will skip" >&2
	exec "$@"
fi
export KITEGATE_TEST_CHROMIUM="$bin"
exec "$@"
