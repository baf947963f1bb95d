package session

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// TestReplace rotates the keyring's secrets as a configured secret
// rotation does: ids sealed before still open while the old secret is in
// the list, new ids are sealed with the new one, and dropping the old
// secret ends the old ids.
func TestReplace(t *testing.T) {
	old, next := bytes.Repeat([]byte("o"), 32), bytes.Repeat([]byte("n"), 32)
	kr, err := NewKeyring(old)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := &State{Route: "r", Expires: now.Add(time.Hour)}
	before, err := kr.Seal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.Replace(next, old); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Open(before, now); err != nil {
		t.Fatalf("an id sealed before the rotation: %v", err)
	}
	after, _ := kr.Seal(st)
	onlyNew, _ := NewKeyring(next)
	if _, err := onlyNew.Open(after, now); err != nil {
		t.Fatalf("a new id is not sealed with the new secret: %v", err)
	}
	if err := kr.Replace(next); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Open(before, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an id of a dropped secret: %v", err)
	}
	if err := kr.Replace([]byte("short")); err == nil {
		t.Fatal("a short secret replaced the keys")
	}
	if _, err := kr.Open(after, now); err != nil {
		t.Fatalf("a failed Replace changed the keys: %v", err)
	}
}
