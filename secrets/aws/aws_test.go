package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mcpfort/mcpfort/secrets"
)

const (
	roleARN      = "arn:aws:iam::123456789012:role/mcpfort"
	accessKey    = "ASIAMCPFORTTEST00001"
	secretKey    = "assumed-secret-access-key/0123456789abcd"
	sessionToken = "assumed-session-token"
	saJWT        = "eyJhbGciOiJSUzI1NiJ9.irsa-service-account-token.sig"
)

// sts answers AssumeRoleWithWebIdentity (unsigned, as the API is) for the
// service account token in the web identity file, with fixed session
// credentials.
type sts struct {
	mu    sync.Mutex
	calls int
	t     *testing.T
}

func (s *sts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "", 400)
		return
	}
	f := r.PostForm
	if f.Get("Action") != "AssumeRoleWithWebIdentity" || f.Get("RoleArn") != roleARN || f.Get("WebIdentityToken") != saJWT {
		s.t.Errorf("sts: unexpected request %v", f)
		http.Error(w, "<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>
      <Expiration>%s</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/mcpfort/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <SubjectFromWebIdentityToken>system:serviceaccount:mcp:mcpfort</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`, accessKey, secretKey, sessionToken, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

// verifySigV4 recomputes the request's AWS Signature Version 4 with the
// SDK's own signer and the assumed credentials, and reports whether the
// Authorization header matches (and names the assumed key, the service
// and the region).
func verifySigV4(t *testing.T, r *http.Request, body []byte, service, region string) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+accessKey+"/") || !strings.Contains(auth, "/"+region+"/"+service+"/aws4_request") {
		return fmt.Errorf("authorization %q is not SigV4 by the assumed key for %s in %s", auth, service, region)
	}
	if r.Header.Get("X-Amz-Security-Token") != sessionToken {
		return fmt.Errorf("no session token of the assumed role")
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	_, signedList, _ := strings.Cut(auth, "SignedHeaders=")
	signedList, _, _ = strings.Cut(signedList, ",")
	req, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	for _, h := range strings.Split(signedList, ";") {
		switch h {
		case "host", "x-amz-date", "x-amz-security-token":
			continue // the signer sets these
		}
		req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey, SessionToken: sessionToken}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, signedAt); err != nil {
		return err
	}
	if got := req.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature mismatch:\n got  %s\n want %s", auth, got)
	}
	return nil
}

// awsJSON serves an AWS JSON 1.1 API (Secrets Manager, SSM) on loopback:
// each request must be signed with the assumed credentials.
func awsJSON(t *testing.T, service string, answer func(target string, in map[string]any) (int, any)) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifySigV4(t, r, body, service, "eu-west-1"); err != nil {
			t.Errorf("%s: %v", service, err)
			http.Error(w, `{"__type":"InvalidSignatureException"}`, 400)
			return
		}
		var in map[string]any
		json.Unmarshal(body, &in)
		status, out := answer(r.Header.Get("X-Amz-Target"), in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// TestIRSA runs the workload-identity path end to end: the default chain
// finds the web identity token file and role, assumes the role at a
// loopback STS, and signs Secrets Manager and SSM requests with the
// assumed credentials.
func TestIRSA(t *testing.T) {
	stsSrv := &sts{t: t}
	stsTS := httptest.NewServer(stsSrv)
	defer stsTS.Close()
	var mu sync.Mutex
	current := `{"api_key":"sm-one"}`
	sm := awsJSON(t, "secretsmanager", func(target string, in map[string]any) (int, any) {
		if target != "secretsmanager.GetSecretValue" {
			return 400, map[string]string{"__type": "UnknownOperationException"}
		}
		if in["SecretId"] != "prod/mcpfort/upstream" {
			return 400, map[string]string{"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."}
		}
		if in["VersionStage"] == "AWSPREVIOUS" {
			return 200, map[string]any{"Name": "prod/mcpfort/upstream", "SecretString": `{"api_key":"sm-zero"}`}
		}
		mu.Lock()
		defer mu.Unlock()
		return 200, map[string]any{"Name": "prod/mcpfort/upstream", "SecretString": current, "VersionStages": []string{"AWSCURRENT"}}
	})
	ssmTS := awsJSON(t, "ssm", func(target string, in map[string]any) (int, any) {
		if target != "AmazonSSM.GetParameter" || in["Name"] != "/mcpfort/token" || in["WithDecryption"] != true {
			return 400, map[string]string{"__type": "ParameterNotFound"}
		}
		return 200, map[string]any{"Parameter": map[string]any{"Name": "/mcpfort/token", "Type": "SecureString", "Value": "ssm-value", "Version": 3}}
	})

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(saJWT), 0o600)
	for k, v := range map[string]string{
		"AWS_ROLE_ARN": roleARN, "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_SESSION_NAME": "mcpfort",
		"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_STS": stsTS.URL, "AWS_ENDPOINT_URL_SECRETS_MANAGER": sm.URL, "AWS_ENDPOINT_URL_SSM": ssmTS.URL,
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
	} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	smb, err := NewSecretsManager(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ssmb, err := NewSSM(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := secrets.New(secrets.Options{
		Backends: map[string]secrets.Backend{secrets.SchemeAWSSecrets: smb, secrets.SchemeAWSSSM: ssmb},
		Allow:    map[string][]string{secrets.SchemeAWSSecrets: {"prod/mcpfort/"}, secrets.SchemeAWSSSM: {"/mcpfort/"}},
	})
	ref := func(s string) secrets.Ref {
		r, err := secrets.ParseRef(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for in, want := range map[string]string{
		"awssecrets://prod/mcpfort/upstream#/api_key":                           "sm-one",
		"awssecrets://prod/mcpfort/upstream?version_stage=AWSPREVIOUS#/api_key": "sm-zero",
		"awsssm:///mcpfort/token":                                               "ssm-value",
	} {
		v, err := r.Fetch(ctx, ref(in))
		if err != nil || v.Reveal() != want {
			t.Errorf("%s = %q, %v; want %q", in, v.Reveal(), err, want)
		}
	}
	s, err := r.Resolve(ctx, "servers[0].http.bearer_token", ref("awssecrets://prod/mcpfort/upstream#/api_key"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	current = `{"api_key":"sm-two"}`
	mu.Unlock()
	r.RefreshNow(ctx)
	if s.Value().Reveal() != "sm-two" {
		t.Errorf("rotated value not picked up: the refresh failed (%+v)", r.Stats())
	}
	_, err = r.Fetch(ctx, ref("awssecrets://prod/mcpfort/missing"))
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("missing secret: %v", err)
	}
	stsSrv.mu.Lock()
	defer stsSrv.mu.Unlock()
	if stsSrv.calls == 0 {
		t.Error("the role was never assumed")
	}
}

// TestVerifySigV4Refuses checks the checker: a request signed with other
// credentials, or altered after signing, does not pass.
func TestVerifySigV4Refuses(t *testing.T) {
	body := []byte(`{"SecretId":"x"}`)
	sign := func(secret string) *http.Request {
		req, _ := http.NewRequest("POST", "http://127.0.0.1:1/", bytes.NewReader(body))
		req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret, SessionToken: sessionToken}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "secretsmanager", "eu-west-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		req.Host = req.URL.Host
		return req
	}
	if err := verifySigV4(t, sign(secretKey), body, "secretsmanager", "eu-west-1"); err != nil {
		t.Fatalf("good signature refused: %v", err)
	}
	if err := verifySigV4(t, sign("another-secret"), body, "secretsmanager", "eu-west-1"); err == nil {
		t.Fatal("signature by other credentials accepted")
	}
	req := sign(secretKey)
	req.Header.Set("X-Amz-Target", "secretsmanager.PutSecretValue")
	if err := verifySigV4(t, req, body, "secretsmanager", "eu-west-1"); err == nil {
		t.Fatal("altered request accepted")
	}
}
