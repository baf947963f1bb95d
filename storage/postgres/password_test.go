package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpfort/mcpfort/storage/postgres"
)

// TestPasswordPerConnection: Password is asked for each new connection
// (so a rotated password is used without a restart), and its failure
// stops Open without the password in the error. The test server trusts
// loopback, so the password itself is not checked here.
func TestPasswordPerConnection(t *testing.T) {
	dsn := schemaDSN(t)
	var calls atomic.Int64
	s, err := postgres.Open(context.Background(), postgres.Options{DSN: dsn, MaxConns: 2, Password: func(context.Context) (string, error) {
		calls.Add(1)
		return "rotating-password", nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if calls.Load() == 0 {
		t.Fatal("Password was never called")
	}
	_, err = postgres.Open(context.Background(), postgres.Options{DSN: dsn, Password: func(context.Context) (string, error) {
		return "", errors.New("secret backend down")
	}})
	if err == nil || !strings.Contains(err.Error(), "secret backend down") {
		t.Fatalf("Open with a failing Password: %v", err)
	}
}
