package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kitegate/kitegate/internal/identity"
	"github.com/kitegate/kitegate/internal/identity/devtokens"
	"github.com/kitegate/kitegate/internal/signing/signingtest"
)

// signin starts what gateway mode needs beside DynamoDB Local (make
// run-signin): local-kms in this process on 127.0.0.1 with a signing key,
// and a real OpenID Provider (oidc-provider, from infra/local/signin.sh) on
// 127.0.0.1 whose login page lets you sign in as any user of the dev token
// file. It returns the authz function's environment for gateway mode.
func signin(ctx context.Context, addr, tokenFile string, stderr io.Writer) ([]string, error) {
	dir, node := os.Getenv("KITEGATE_TEST_SIGNIN_DIR"), os.Getenv("KITEGATE_TEST_NODE")
	if dir == "" || node == "" {
		return nil, errors.New("KITEGATE_TEST_SIGNIN_DIR is not set: run it through infra/local/signin.sh (make run-signin does)")
	}
	users, err := idpUsers(tokenFile)
	if err != nil {
		return nil, err
	}
	kmsURL, stop, err := signingtest.Start(filepath.Join(".local", "kms"))
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, stop)
	client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(kmsURL), Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
	if err != nil {
		return nil, fmt.Errorf("local-kms: create the signing key: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	secret := hex.EncodeToString(b[:])
	idp := exec.CommandContext(ctx, node, filepath.Join(dir, "idp.mjs"))
	idp.Dir = dir
	idp.Env = append(os.Environ(), "IDP_CLIENT_ID=kitegate", "IDP_CLIENT_SECRET="+secret,
		"IDP_REDIRECT_URI=http://"+addr+"/oauth/callback", "IDP_USERS="+users)
	idp.Stderr = io.Discard
	out, err := idp.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if _, err := idp.StdinPipe(); err != nil { // it exits when its standard input closes
		return nil, err
	}
	if err := idp.Start(); err != nil {
		return nil, fmt.Errorf("start the dev IdP: %w", err)
	}
	line := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(out).ReadString('\n'); line <- l }()
	var issuer struct {
		Issuer string `json:"issuer"`
	}
	select {
	case l := <-line:
		if err := json.Unmarshal([]byte(l), &issuer); err != nil || issuer.Issuer == "" {
			return nil, fmt.Errorf("the dev IdP printed %q", l)
		}
	case <-time.After(30 * time.Second):
		return nil, errors.New("the dev IdP did not start in 30s")
	}
	fmt.Fprintf(stderr, "run-signin: the company IdP stand-in is %s; sign in there as one of the dev token file's users (%s) with any password\n", issuer.Issuer, strings.Join(userNames(users), ", "))
	return []string{
		"KITEGATE_UPSTREAM_ISSUER=" + issuer.Issuer, "KITEGATE_UPSTREAM_CLIENT_ID=kitegate", "KITEGATE_UPSTREAM_CLIENT_SECRET=" + secret,
		"KITEGATE_UPSTREAM_SCOPES=openid email groups", "KITEGATE_AUTH_TABLE=" + authTable,
		"KITEGATE_SIGNING_KEYS=" + aws.ToString(key.KeyMetadata.KeyId), "AWS_ENDPOINT_URL_KMS=" + kmsURL,
	}, nil
}

// idpUsers turns the dev token file's users (alice and bob without one)
// into the IdP's: the same people, now signing in at a login page instead
// of presenting a token.
func idpUsers(tokenFile string) (string, error) {
	callers := []identity.Caller{
		{Subject: "alice", Email: "alice@example.com", Groups: []string{"engineering"}},
		{Subject: "bob", Email: "bob@example.com", Groups: []string{"platform-oncall"}},
	}
	if tokenFile != "" {
		tokens, err := devtokens.Read(tokenFile)
		if err != nil {
			return "", err
		}
		callers = callers[:0]
		for _, c := range tokens {
			callers = append(callers, c)
		}
	}
	users := map[string]any{}
	for _, c := range callers {
		users[c.Subject] = map[string]any{"email": c.Email, "email_verified": c.Email != "", "groups": append([]string{}, c.Groups...)}
	}
	out, err := json.Marshal(users)
	return string(out), err
}

func userNames(users string) []string {
	var m map[string]any
	_ = json.Unmarshal([]byte(users), &m)
	var names []string
	for n := range m {
		names = append(names, n)
	}
	return names
}
