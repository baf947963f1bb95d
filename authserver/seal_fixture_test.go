package authserver

import (
	"bytes"
	"testing"
	"time"
)

// fixtureSealed is a pending authorization request as an earlier release
// sealed it (key-encryption key 32 bytes of 0x42, at 1_800_000_000, valid
// for an hour): the format must not change under the cookies and forms
// browsers hold.
const fixtureSealed = "bHkgNrppxTO2JSFJ_jyBVt_JM4gER3-aGmU3ezn6yg5k0GyYDo84LN2s9lAh0mRf2fXKDKk0ADgV_KovBhksHC0zyQdG3NrbSL0w9cimedpKmQbgRqspYkKtZpZDOJJD_37GBbV69eiNrsSZ"

func TestSealedFixtureOpens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := &Server{now: func() time.Time { return now }}
	dk, err := deriveKeyring(bytes.Repeat([]byte{0x41}, 32), [][]byte{bytes.Repeat([]byte{0x42}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	s.kek.Store(dk)
	var r authzRequest
	if err := s.unseal(purposeRequest, fixtureSealed, &r); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	if r.ClientID != "fixture-client" || r.State != "xyz" {
		t.Fatalf("fixture opened to %+v", r)
	}
	if s.unseal(purposeSession, fixtureSealed, &r) == nil {
		t.Fatal("fixture opened for another purpose")
	}
	now = now.Add(time.Hour)
	if s.unseal(purposeRequest, fixtureSealed, &r) == nil {
		t.Fatal("fixture opened past its expiry")
	}
}
