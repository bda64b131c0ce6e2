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
	yaml "go.yaml.in/yaml/v3"

	"github.com/kitegate/kitegate/internal/signing/signingtest"
)

// devUsers are the users of the dev login page when no dev token file is
// given: the README's example users.
const devUsers = `tokens:
  alice-token: {sub: alice, email: alice@example.com, groups: [engineering]}
  bob-token: {sub: bob, email: bob@example.com, groups: [platform-oncall]}
`

// signin starts what gateway mode needs beside DynamoDB Local (make
// run-signin): local-kms in this process on 127.0.0.1 with a signing key,
// and a real OpenID Provider (oidc-provider, from infra/local/signin.sh) on
// 127.0.0.1 whose login page lets you sign in as any user of the dev token
// file. It returns the mcp function's gateway-mode environment.
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

// idpUsers turns a dev token file (or devUsers) into the IdP's users: the
// same people, now signing in through a login page instead of a token.
func idpUsers(tokenFile string) (string, error) {
	data := []byte(devUsers)
	if tokenFile != "" {
		var err error
		if data, err = os.ReadFile(tokenFile); err != nil {
			return "", err
		}
	}
	var file struct {
		Tokens map[string]struct {
			Sub    string   `yaml:"sub"`
			Email  string   `yaml:"email"`
			Groups []string `yaml:"groups"`
		} `yaml:"tokens"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return "", fmt.Errorf("dev token file: %w", err)
	}
	users := map[string]any{}
	for _, u := range file.Tokens {
		if u.Sub == "" {
			continue
		}
		users[u.Sub] = map[string]any{"email": u.Email, "email_verified": u.Email != "", "groups": append([]string{}, u.Groups...)}
	}
	if len(users) == 0 {
		return "", errors.New("dev token file: no users")
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
