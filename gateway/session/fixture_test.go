package session

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// Session ids and sealed data as an earlier release sealed them (secrets
// 32 bytes of 0x42, then 0x43; fixtureOldID sealed with 0x43 alone): the
// wire format must not change under the sessions clients hold.
const (
	fixtureID    = "RTICEkaIEK7E36MCacGv_k8kuglFGxFUF6-QGFoixlJq19VhjzTvp4OXYbxjRDmoRorJSI2PHCxld-JQxlRRqsRtTNquRLq-UGnQYT7CNOP_EC12RHZ_dz_Y3ged_HrZRxTYcZ3qXWFobwMQCXGy8ixDK4ZImbzGcOuRXNTGh-v7Xz8hmuNaKA"
	fixtureOldID = "3oXmfyqScozp_wYyT69NOB6Nz0oXyQ9335z7haC_XIiezN3PuEa3Gi7dHqgQzkfK0VT0WW5z7apUNm1R0--MA-KA4MmIanQvuYxHDFxqOsdZvN4M-VPoxTAV-Q-2UIWdKWinoMF3qlnsso0U5wF8TYek7kP41kqq_GagS2mSDIXcAnkwzQiIsg"
	fixtureData  = "RRkBVxw7tS32FlHc_MzdqV0Eq4dBO7FEwGA9LovAZ77B0GSi9h-P"
)

func TestSealedFixturesOpen(t *testing.T) {
	kr, err := NewKeyring(bytes.Repeat([]byte{0x42}, 32), bytes.Repeat([]byte{0x43}, 32))
	if err != nil {
		t.Fatal(err)
	}
	want := &State{ID: [16]byte{1, 2, 3}, Route: "team", Version: "2025-11-25", UpstreamSession: "up-1", Owner: "http://10.0.0.1:8080",
		Created: time.Unix(1_800_000_000, 0), Expires: time.Unix(1_800_003_600, 0), Principal: [16]byte{9},
		ClientCapabilities: []byte(`{"x":1}`), ClientInfo: []byte(`{"name":"c"}`)}
	for _, id := range []string{fixtureID, fixtureOldID} {
		st, err := kr.Open(id, time.Unix(1_800_000_001, 0))
		if err != nil {
			t.Fatalf("Open(%s): %v", id[:8], err)
		}
		if !reflect.DeepEqual(st, want) {
			t.Fatalf("Open(%s) = %+v, want %+v", id[:8], st, want)
		}
	}
	if d, err := kr.OpenData("fixture", fixtureData); err != nil || string(d) != "hello data" {
		t.Fatalf("OpenData = %q, %v", d, err)
	}
	if _, err := kr.OpenData("other", fixtureData); err == nil {
		t.Fatal("sealed data opened for another purpose")
	}
	// The key id byte picks the key: the first secret alone opens only
	// what it sealed.
	first, _ := NewKeyring(bytes.Repeat([]byte{0x42}, 32))
	if _, err := first.Open(fixtureOldID, time.Unix(1_800_000_001, 0)); err == nil {
		t.Fatal("an id of a secret the keyring lacks opened")
	}
}
