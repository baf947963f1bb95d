package schema

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodeArgs measures decoding tool arguments into the values
// the validator reads: typical arguments, and a larger document (a
// hundred records).
func BenchmarkDecodeArgs(b *testing.B) {
	var recs []string
	for i := range 100 {
		recs = append(recs, fmt.Sprintf(`{"id":%d,"name":"record \"%d\"","score":%d.25e-1,"tags":["a","b\u00e9"],"ok":true,"none":null}`, i, i, i))
	}
	for _, bc := range []struct{ name, in string }{
		{"typical", `{"query":"open issues about rate limits","limit":10,"mode":"fast","filter":{"field":"label","value":"bug"}}`},
		{"records", `{"records":[` + strings.Join(recs, ",") + `]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.in)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeArgs(in, defaultDepth, defaultValues); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
