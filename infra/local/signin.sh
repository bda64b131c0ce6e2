#!/usr/bin/env bash
# Runs a command with what the sign-in tests need: Node 22 and, through
# node.sh --npm, the pinned npm packages oidc-provider (the company IdP stand-in) and the
# MCP TypeScript SDK (the OAuth client), installed into .local/signin
# (gitignored). Exports KITEGATE_TEST_SIGNIN_DIR (this folder's scripts, with
# node_modules beside them) and KITEGATE_TEST_NODE.
#
#   infra/local/signin.sh go test ./internal/authz/...
#
# In CI (CI=true) a failed install fails the run; elsewhere the sign-in
# tests skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -n "${KITEGATE_TEST_SIGNIN_DIR:-}" ]; then
	exec "$@"
fi
exec infra/local/node.sh --npm .local/signin "oidc-provider@9.13.3 @modelcontextprotocol/sdk@1.32.2 puppeteer-core@25.16.0" bash -c '
set -euo pipefail
prefix=.local/signin
fail() {
	echo "signin: $*" >&2
	if [ "${CI:-}" = "true" ]; then exit 1; fi
	echo "signin: running without it; sign-in tests will skip" >&2
	exec "${@:2}"
}
[ -n "${KITEGATE_TEST_NODE:-}" ] || fail "Node 22 is not installed" "$@"
[ -n "${KITEGATE_NODE_MODULES:-}" ] || fail "its npm packages are not installed" "$@"
# The scripts are run from the install folder so they resolve its node_modules.
cp infra/local/signin/*.mjs "$prefix/"
export KITEGATE_TEST_SIGNIN_DIR="$PWD/$prefix"
exec "$@"
' signin "$@"
