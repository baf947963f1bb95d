package app_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

// TestKEKRotationLive: the key-encryption key, read from a file that is
// replaced while the gateway runs, takes effect without a restart (the
// keyring rule): a sign-in form sealed before the rotation still posts,
// forms sealed after it are sealed with the new key, and the audit chain
// key file is sealed again so that the new key alone opens it.
func TestKEKRotationLive(t *testing.T) {
	dir := t.TempDir()
	kekPath := filepath.Join(dir, "kek")
	k1, k2 := make([]byte, 32), make([]byte, 32)
	rand.Read(k1)
	rand.Read(k2)
	writeKEK := func(k []byte) {
		tmp := kekPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, kekPath); err != nil {
			t.Fatal(err)
		}
	}
	writeKEK(k1)
	var cfg *config.Config
	base := startAS(t, func(c *config.Config) {
		c.Secrets.FileCheckInterval = config.Duration(50 * time.Millisecond)
		c.AuthServer.KeyEncryptionKey = &config.SecretRef{Ref: "file:" + kekPath}
		cfg = c
	})

	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := func() (csrf, request string) { return signInForm(t, b, base) }
	// post signs in with a form; true when it passed (the consent page).
	post := func(csrf, request string) bool {
		t.Helper()
		f := url.Values{"csrf": {csrf}, "request": {request}, "username": {qsUser}, "password": {qsPassword}}
		resp, err := b.PostForm(base+"/login", f)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK && strings.Contains(string(body), "Allow access?")
	}

	csrf1, req1 := form()
	if !sealedWith(k1, "request", req1) || sealedWith(k2, "request", req1) {
		t.Fatal("the sign-in form is not sealed with the configured key-encryption key")
	}
	auditOpens := func(k []byte) error {
		c := *cfg
		c.AuthServer.KeyEncryptionKey = &config.SecretRef{Ref: "file:" + filepath.Join(dir, fmt.Sprintf("kek-%x", k[:4]))}
		c.AuthServer.PreviousKeyEncryptionKeys = nil
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("kek-%x", k[:4])), []byte(base64.StdEncoding.EncodeToString(k)), 0o600)
		opts, err := app.AuditCommandOptions(&c)
		if err == nil && opts.Key == nil {
			err = fmt.Errorf("no chain key")
		}
		return err
	}
	if err := auditOpens(k1); err != nil {
		t.Fatalf("audit chain key with the first key-encryption key: %v", err)
	}

	writeKEK(k2)
	deadline := time.Now().Add(10 * time.Second)
	var csrf2, req2 string
	for {
		csrf2, req2 = form()
		if sealedWith(k2, "request", req2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("forms are still sealed with the replaced key-encryption key")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if sealedWith(k1, "request", req2) {
		t.Fatal("a form after the rotation opens with the old key")
	}
	for auditOpens(k2) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the audit chain key file was not sealed with the new key-encryption key: %v", auditOpens(k2))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := auditOpens(k1); err == nil {
		t.Error("the audit chain key file still opens with the replaced key-encryption key")
	}
	// What the old key sealed still opens: the first form posts.
	if !post(csrf1, req1) {
		t.Error("a sign-in form sealed before the rotation no longer posts")
	}
	if !post(csrf2, req2) {
		t.Error("a sign-in form sealed after the rotation does not post")
	}
	if post(csrf2, req2[:len(req2)-4]+"AAAA") {
		t.Error("a tampered sealed request accepted")
	}
	// A value that is not a key is refused; the ring stays.
	os.WriteFile(kekPath, []byte("not a key"), 0o600)
	time.Sleep(300 * time.Millisecond)
	if _, r := form(); !sealedWith(k2, "request", r) {
		t.Error("an unusable key-encryption key replaced the ring")
	}
}

// sealedWith reports whether v was sealed for purpose by an authorization
// server whose key-encryption key is kek (HKDF-derived AES-256-GCM key,
// nonce first, purpose as additional data).
func sealedWith(kek []byte, purpose, v string) bool {
	key, err := hkdf.Key(sha256.New, kek, nil, "mcpfort authserver seal v1", 32)
	if err != nil {
		return false
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(raw) < aead.NonceSize() {
		return false
	}
	_, err = aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte("mcpfort/"+purpose))
	return err == nil
}
