package redis

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// client returns a client of Redis at url, closed when the test ends.
func client(t testing.TB, url string, timeout time.Duration) *goredis.Client {
	t.Helper()
	rdb, err := NewClient(ClientOptions{URL: url, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestNewClientHidesURL: a URL that does not parse is not echoed (it may
// hold a password).
func TestNewClientHidesURL(t *testing.T) {
	_, err := NewClient(ClientOptions{URL: "redis://user:s3cret@[::1/0"})
	if err == nil {
		t.Fatal("a malformed URL was accepted")
	}
	if got := err.Error(); got != "redis: invalid URL" {
		t.Fatalf("error = %q", got)
	}
}
