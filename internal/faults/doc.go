// Package faults holds kitegate's fault tests: Buildkite answering 429s and
// 5xx, answering too slowly or resetting the connection, Secrets Manager
// down, DynamoDB going away mid-run. Each runs the real MCP handler with the
// real Buildkite, Secrets Manager and DynamoDB clients against the
// simulators and DynamoDB Local, and checks what the caller reads, what the
// audit keeps, and that nothing retries in a storm. The package has no code
// of its own; the tests are in faults_test.go and dynamodb_test.go.
//
// A poison DynamoDB stream record is covered beside the stream processor in
// internal/audit: TestStreamPoisonInTheMiddle, TestDecodeRecord and
// FuzzDecodeRecord.
package faults
