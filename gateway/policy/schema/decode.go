package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// Argument limits, checked before validation so that no value reaches the
// validator that could make it slow: number literals with huge exponents
// cost the validator's exact arithmetic (math/big) time exponential in the
// exponent's digits.
const (
	maxNumberLen  = 128
	maxExponent   = 1000
	defaultDepth  = 32
	defaultValues = 100_000
)

// errArgs reports arguments outside the limits; its message is shown to
// the client.
type errArgs struct{ msg string }

func (e *errArgs) Error() string { return e.msg }

var errSyntax = &errArgs{"arguments are not valid JSON"}

// decodeArgs decodes raw arguments into the value shapes the validator
// expects (map[string]any, []any, string, json.Number, bool, nil) and
// checks the limits on the way. It reads through the gateway's JSON
// chokepoint (internal/jsonx), so the arguments are held to the same
// rules as every other untrusted JSON: UTF-8, grammar, depth, no
// duplicate member names; even bytes a policy before this one rewrote.
func decodeArgs(raw []byte, maxDepth, maxValues int) (any, error) {
	a := argDecoder{d: jsonx.NewDecoder(raw, jsonx.Options{MaxDepth: maxDepth}), maxDepth: maxDepth, maxValues: maxValues}
	v, err := a.value()
	if err == nil {
		_, err = a.d.Next()
	}
	if err != nil {
		return nil, a.wrap(err)
	}
	return v, nil
}

type argDecoder struct {
	d                   *jsonx.Decoder
	maxDepth, maxValues int
	count               int
}

// wrap turns the decoder's errors into messages for the client.
func (a *argDecoder) wrap(err error) error {
	var se *jsonx.SyntaxError
	switch {
	case errors.Is(err, jsonx.ErrDepth):
		return &errArgs{fmt.Sprintf("arguments are nested deeper than %d levels", a.maxDepth)}
	case errors.As(err, &se) && strings.HasPrefix(se.Msg, "duplicate key"):
		return &errArgs{"arguments repeat an object key"}
	case errors.As(err, &se) && strings.HasPrefix(se.Msg, "trailing data"):
		return &errArgs{"arguments are not a single JSON value"}
	case errors.As(err, &se):
		return errSyntax
	}
	return err
}

func (a *argDecoder) value() (any, error) {
	k, err := a.d.Next()
	if err != nil {
		return nil, err
	}
	return a.from(k)
}

// from builds the value whose first token, of kind k, was just read.
func (a *argDecoder) from(k jsonx.Kind) (any, error) {
	if a.count++; a.count > a.maxValues {
		return nil, &errArgs{fmt.Sprintf("arguments hold more than %d values", a.maxValues)}
	}
	switch k {
	case jsonx.KindObjectStart:
		obj := make(map[string]any)
		for {
			k, err := a.d.Next()
			if err != nil {
				return nil, err
			}
			if k == jsonx.KindObjectEnd {
				return obj, nil
			}
			name := a.d.Text()
			v, err := a.value()
			if err != nil {
				return nil, err
			}
			obj[name] = v
		}
	case jsonx.KindArrayStart:
		arr := []any{}
		for {
			k, err := a.d.Next()
			if err != nil {
				return nil, err
			}
			if k == jsonx.KindArrayEnd {
				return arr, nil
			}
			v, err := a.from(k)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
	case jsonx.KindString:
		return a.d.Text(), nil
	case jsonx.KindNumber:
		return number(a.d.Raw())
	case jsonx.KindTrue:
		return true, nil
	case jsonx.KindFalse:
		return false, nil
	case jsonx.KindNull:
		return nil, nil
	}
	return nil, errSyntax
}

// number refuses number literals (RFC 8259 section 6, validated by the
// decoder) too long or too far out of range for any tool to mean them.
func number(raw []byte) (any, error) {
	if len(raw) > maxNumberLen {
		return nil, &errArgs{fmt.Sprintf("a number in the arguments is longer than %d characters", maxNumberLen)}
	}
	if e := bytes.IndexAny(raw, "eE"); e >= 0 {
		digits := raw[e+1:]
		if len(digits) > 0 && (digits[0] == '+' || digits[0] == '-') {
			digits = digits[1:]
		}
		if len(digits) > 8 {
			return nil, &errArgs{"a number in the arguments is out of range"}
		}
		exp, err := strconv.Atoi(string(raw[e+1:]))
		if err != nil {
			return nil, errSyntax
		}
		if exp > maxExponent || exp < -maxExponent {
			return nil, &errArgs{"a number in the arguments is out of range"}
		}
	}
	return json.Number(raw), nil
}
