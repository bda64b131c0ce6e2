#!/usr/bin/env bash
# Runs a command with AWS's policy-as-code checker cfn-guard on hand:
#
#   infra/local/cfnguard.sh cfn-guard validate -d template.yaml -r infra/guard
#   infra/local/cfnguard.sh go test ./internal/stack
#
# Installs the npm package @cdklabs/cdk-validator-cfnguard (which ships the
# cfn-guard binary for Linux and macOS) into .local/cfnguard (gitignored),
# picks the binary for this machine, puts it first on PATH and exports its
# path as KITEGATE_CFN_GUARD for the command. In CI (CI=true) any failure to
# install it fails the run; elsewhere the command runs without it and the
# guard tests skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=0.0.62
prefix=.local/cfnguard

fail() {
	echo "cfn-guard: $*" >&2
	if [ "${CI:-}" = "true" ]; then exit 1; fi
	echo "cfn-guard: running without it; the guard tests will skip" >&2
	exec "$@"
}

if [ -n "${KITEGATE_CFN_GUARD:-}" ] && [ -x "$KITEGATE_CFN_GUARD" ]; then
	exec "$@" # already set up by an outer invocation
fi
command -v npm >/dev/null || fail "npm is not installed" "$@"

pkg=$prefix/node_modules/@cdklabs/cdk-validator-cfnguard
if [ "$(node -p "require('./$pkg/package.json').version" 2>/dev/null)" != "$version" ]; then
	mkdir -p "$prefix"
	npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
		"@cdklabs/cdk-validator-cfnguard@$version" >&2 || fail "npm install @cdklabs/cdk-validator-cfnguard@$version failed" "$@"
fi
case "$(uname -s)/$(uname -m)" in
Linux/x86_64) dir=ubuntu/x86_64 ;;
Linux/aarch64 | Linux/arm64) dir=ubuntu/aarch64 ;;
Darwin/x86_64) dir=macos/x86_64 ;;
Darwin/arm64) dir=macos/aarch64 ;;
*) fail "no cfn-guard binary for $(uname -s)/$(uname -m) in the package" "$@" ;;
esac
bin=$(pwd)/$pkg/bin/$dir/cfn-guard
[ -f "$bin" ] || fail "$bin not found in the package" "$@"
[ -x "$bin" ] || chmod +x "$bin"
"$bin" --version >/dev/null 2>&1 || fail "$bin does not run here" "$@"
export KITEGATE_CFN_GUARD=$bin
export PATH="$(dirname "$bin"):$PATH"
"$@"
