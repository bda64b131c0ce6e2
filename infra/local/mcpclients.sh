#!/usr/bin/env bash
# Runs a command with the MCP clients people use on hand, for the client
# matrix (TestClientMatrix in functions/mcp, docs/clients.md): Node 22
# and, through node.sh --npm at pinned versions, the TypeScript SDK
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
exec infra/local/node.sh --npm .local/mcpclients "@modelcontextprotocol/sdk@1.32.2 @modelcontextprotocol/inspector@2.12.0 @modelcontextprotocol/conformance@0.1.16" bash -c '
set -euo pipefail
fail() {
	echo "mcpclients: $*" >&2
	if [ "${CI:-}" = "true" ]; then exit 1; fi
	echo "mcpclients: running without them; the client matrix will skip" >&2
	exec "${@:2}"
}
[ -n "${KITEGATE_TEST_NODE:-}" ] || fail "Node 22 is not installed" "$@"
[ -n "${KITEGATE_NODE_MODULES:-}" ] || fail "their npm packages are not installed" "$@"
export KITEGATE_MCP_CLIENTS="$KITEGATE_NODE_MODULES"
exec "$@"
' mcpclients "$@"
