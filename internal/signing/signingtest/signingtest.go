// Package signingtest serves a real KMS API for tests: the local-kms
// module's request handler, in process, on 127.0.0.1 (its own binary would
// listen on every interface), with a fresh database per test.
package signingtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	localkms "github.com/nsmithuk/local-kms/src"
	"github.com/nsmithuk/local-kms/src/config"
	"github.com/nsmithuk/local-kms/src/data"
)

// configOnce sets local-kms's package-level region and account once: its
// handlers read them from globals.
var configOnce sync.Once

// Calls counts the KMS API calls a server answered, by operation
// (X-Amz-Target without the service prefix).
type Calls struct {
	URL string // the server's endpoint

	mu sync.Mutex
	n  map[string]int
}

// Count returns how many calls of op were answered.
func (c *Calls) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[op]
}

// Server starts local-kms on 127.0.0.1 for the test's lifetime and returns
// a KMS client pointed at it, and the call counter.
func Server(t testing.TB) (*kms.Client, *Calls) {
	t.Helper()
	calls, stop, err := start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	client := kms.New(kms.Options{
		Region:       config.AWSRegion,
		BaseEndpoint: aws.String(calls.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return client, calls
}

// Start serves local-kms on 127.0.0.1 with its keys in dir (make
// run-signin) and returns its URL and how to stop it.
func Start(dir string) (string, func(), error) {
	calls, stop, err := start(dir)
	if err != nil {
		return "", nil, err
	}
	return calls.URL, stop, nil
}

func start(dir string) (*Calls, func(), error) {
	configOnce.Do(func() {
		config.AWSRegion = "eu-west-1"
		config.AWSAccountId = "111122223333"
	})
	db := data.NewDatabase(dir)
	calls := &Calls{n: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		if _, op, ok := cut(target); ok {
			calls.mu.Lock()
			calls.n[op]++
			calls.mu.Unlock()
		}
		localkms.HandleRequest(w, r, db)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	srv.Listener = ln
	srv.Start()
	calls.URL = srv.URL
	return calls, func() { srv.Close(); db.Close() }, nil
}

// SigningKey creates an RSA_2048 SIGN_VERIFY key and returns its id.
func SigningKey(t testing.TB, client *kms.Client) string {
	t.Helper()
	out, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{
		KeySpec:  types.KeySpecRsa2048,
		KeyUsage: types.KeyUsageTypeSignVerify,
	})
	if err != nil {
		t.Fatalf("create KMS key: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

func cut(target string) (string, string, bool) {
	for i := len(target) - 1; i >= 0; i-- {
		if target[i] == '.' {
			return target[:i], target[i+1:], true
		}
	}
	return "", "", false
}
