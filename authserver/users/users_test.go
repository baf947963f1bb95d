package users

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/sqlite"
)

func TestUsersCommand(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "u.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Run(ctx, store, args, strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no command", "", nil, 2, "", "usage:"},
		{"unknown", "", []string{"frob"}, 2, "", "unknown command"},
		{"add", "hunter2hunter2\n", []string{"add", "--email", "c@example.com", "--name", "Carol", "--group", "eng", "carol"}, 0, "created user carol", ""},
		{"add with groups", "hunter2hunter2\n", []string{"add", "--group", "admins,eng", "--group", "ops", "erin"}, 0, "created user erin", ""},
		{"add wildcard group", "hunter2hunter2\n", []string{"add", "--group", "*", "frank"}, 2, "", "group"},
		{"groups show", "", []string{"groups", "erin"}, 0, "erin: admins,eng,ops", ""},
		{"groups add and remove", "", []string{"groups", "--add", "admins", "--remove", "eng", "carol"}, 0, "carol: admins", ""},
		{"groups set", "", []string{"groups", "--set", "ops,eng", "erin"}, 0, "erin: eng,ops", ""},
		{"groups clear", "", []string{"groups", "--clear", "erin"}, 0, "erin: -", ""},
		{"groups unknown", "", []string{"groups", "zed"}, 1, "", "no user"},
		{"add duplicate", "hunter2hunter2\n", []string{"add", "carol"}, 1, "", "already exists"},
		{"short password", "short\n", []string{"add", "dave"}, 1, "", "at least 8"},
		{"no username", "hunter2hunter2\n", []string{"add"}, 2, "", "exactly one USERNAME"},
		{"bad username", "hunter2hunter2\n", []string{"add", "a b"}, 2, "", "printable"},
		{"disable", "", []string{"disable", "carol"}, 0, "user carol disabled", ""},
		{"disable unknown", "", []string{"disable", "zed"}, 1, "", "no user"},
		{"list", "", []string{"list"}, 0, "carol", ""},
		{"list args", "", []string{"list", "x"}, 2, "", "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("code %d stdout %q stderr %q", code, out, errOut)
			}
		})
	}
	u, err := store.GetUserByUsername(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if !u.Disabled || u.Email != "c@example.com" || u.Name != "Carol" || len(u.Groups) != 1 || u.Groups[0] != "admins" {
		t.Errorf("user %+v", u)
	}
	if ok, _ := authserver.VerifyPassword(u.PasswordHash, "hunter2hunter2"); !ok {
		t.Error("stored hash does not verify")
	}
	if code, _, _ := run("", "enable", "carol"); code != 0 {
		t.Fatal("enable failed")
	}
	if code, _, _ := run("a new password\n", "passwd", "carol"); code != 0 {
		t.Fatal("passwd failed")
	}
	u, _ = store.GetUserByUsername(ctx, "carol")
	if ok, _ := authserver.VerifyPassword(u.PasswordHash, "a new password"); !ok || u.Disabled {
		t.Error("passwd or enable not applied")
	}
	_ = store.CreateUser(ctx, &storage.User{ID: "fed", Issuer: "https://idp.example", Subject: "s1", Name: "Fed\tUser"})
	code, out, _ := run("", "list", "--json")
	if code != 0 {
		t.Fatal(out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("json lines %q", out)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(l, "argon2") {
			t.Error("password hash printed")
		}
	}
}
