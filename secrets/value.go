package secrets

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Value prints as, in every format.
const Redacted = "[redacted]"

// Value is a secret value. It is used only through Reveal and Bytes; in
// every other use (fmt verbs, log/slog, encoding/json, encoding.Text
// marshalling, panics that print it) it reads "[redacted]". The zero
// Value is empty.
type Value struct {
	// v is unexported so that reflection-based printers (%+v of a struct
	// holding a Value, go-cmp) cannot reach it without the methods.
	v string
}

// NewValue wraps s.
func NewValue(s string) Value { return Value{v: s} }

// Reveal returns the secret itself. Call it only where the secret is
// sent or used as a key, never to log or format it.
func (v Value) Reveal() string { return v.v }

// Bytes returns a copy of the secret's bytes.
func (v Value) Bytes() []byte { return []byte(v.v) }

// Len is the secret's length in bytes.
func (v Value) Len() int { return len(v.v) }

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return v.v == "" }

// Equal reports whether two values hold the same secret.
func (v Value) Equal(o Value) bool { return v.v == o.v }

// String implements fmt.Stringer.
func (Value) String() string { return Redacted }

// GoString implements fmt.GoStringer.
func (Value) GoString() string { return `secrets.Value("` + Redacted + `")` }

// Format implements fmt.Formatter: every verb, %x and %q included,
// prints the redaction.
func (Value) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, `secrets.Value("`+Redacted+`")`)
		return
	}
	fmt.Fprint(f, Redacted)
}

// LogValue implements slog.LogValuer.
func (Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalYAML implements the YAML marshaller's interface.
func (Value) MarshalYAML() (any, error) { return Redacted, nil }
