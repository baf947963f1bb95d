package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStateCommand(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "mcpfort.yaml")
	if err := os.WriteFile(cfgPath, []byte("state: {dir: st}\nservers: [{name: a, http: {url: 'http://u'}}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const usage = "usage text\n"
	tests := []struct {
		name       string
		args       []string
		code       int
		database   string
		dir        string
		cfg        bool
		rest       []string
		stdout     string
		stderrHas  string
		wantTarget bool
	}{
		{name: "db before the subcommand", args: []string{"--db", "sqlite:x.db", "list"}, database: "sqlite:x.db", dir: ".", rest: []string{"list"}, wantTarget: true},
		{name: "db after it, with =", args: []string{"add", "bob", "-db=postgres://h/d", "--group", "g"}, database: "postgres://h/d", dir: ".",
			rest: []string{"add", "bob", "--group", "g"}, wantTarget: true},
		{name: "config", args: []string{"verify", "--config", cfgPath}, database: "sqlite", dir: filepath.Join(dir, "st"), cfg: true, rest: []string{"verify"}, wantTarget: true},
		{name: "both", args: []string{"--db", "x", "--config", cfgPath, "list"}, code: 2, stderrHas: "not both"},
		{name: "neither", args: []string{"list"}, code: 2, stderrHas: "--config FILE or --db DATABASE is required"},
		{name: "no value", args: []string{"list", "--db"}, code: 2, stderrHas: "needs a value"},
		{name: "no subcommand", args: []string{"--db", "x"}, code: 2, stderrHas: usage},
		{name: "help", args: []string{"help"}, stdout: usage},
		{name: "-h with a database", args: []string{"--db", "x", "-h"}, stdout: usage},
		{name: "config that does not load", args: []string{"--config", filepath.Join(dir, "missing.yaml"), "list"}, code: 1, stderrHas: "missing.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got, code := stateCommand("x", usage, tt.args, &stdout, &stderr)
			if (got != nil) != tt.wantTarget || code != tt.code {
				t.Fatalf("target %v, code %d; want target %v, code %d (stderr %q)", got, code, tt.wantTarget, tt.code, stderr.String())
			}
			if stdout.String() != tt.stdout || !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
			}
			if got == nil {
				return
			}
			if got.database != tt.database || got.dir != tt.dir || (got.cfg != nil) != tt.cfg {
				t.Fatalf("database %q dir %q cfg %v", got.database, got.dir, got.cfg != nil)
			}
			if d := cmp.Diff(tt.rest, got.args); d != "" {
				t.Fatalf("args (-want +got):\n%s", d)
			}
		})
	}
}
