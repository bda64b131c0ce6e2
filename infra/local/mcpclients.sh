#!/usr/bin/env bash
# Runs a command with the MCP clients people use on hand, for the client
# matrix (TestClientMatrix in functions/mcp, docs/clients.md): Node 22
# (node.sh) and, at pinned versions from npm, the TypeScript SDK
# (@modelcontextprotocol/sdk), the MCP Inspector and the MCP conformance
# suite, installed into .local/mcpclients (gitignored). Exports
# KITEGATE_MCP_CLIENTS (their node_modules) and KITEGATE_TEST_NODE.
#
#   infra/local/mcpclients.sh go test -run TestClientMatrix ./functions/mcp
#
# In CI (CI=true) a failed install fails the run; elsewhere the matrix
# skips, saying why.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -n "${KITEGATE_MCP_CLIENTS:-}" ]; then
	exec "$@" # already set up by an outer invocation
fi
exec infra/local/node.sh bash -c '
set -euo pipefail
prefix=.local/mcpclients
fail() {
	echo "mcpclients: $*" >&2
	if [ "${CI:-}" = "true" ]; then exit 1; fi
	echo "mcpclients: running without them; the client matrix will skip" >&2
	exec "${@:2}"
}
[ -n "${KITEGATE_TEST_NODE:-}" ] || fail "Node 22 is not installed" "$@"
want="@modelcontextprotocol/sdk@1.32.2 @modelcontextprotocol/inspector@2.12.0 @modelcontextprotocol/conformance@0.1.16"
if [ "$(cat "$prefix/installed" 2>/dev/null)" != "$want" ]; then
	mkdir -p "$prefix"
	# One install: npm prunes what a later --no-save install does not name.
	npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error $want >&2 || fail "npm install $want failed" "$@"
	echo "$want" >"$prefix/installed"
fi
export KITEGATE_MCP_CLIENTS="$PWD/$prefix/node_modules"
exec "$@"
' mcpclients "$@"
