package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
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

// decodeArgs decodes raw arguments (already validated JSON: the gateway's
// chokepoint checked UTF-8, depth and duplicate keys) into the value shapes
// the validator expects, numbers as json.Number, and checks the limits.
func decodeArgs(raw []byte, maxDepth, maxValues int) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &errArgs{"arguments are not valid JSON"}
	}
	if dec.More() {
		return nil, &errArgs{"arguments are not a single JSON value"}
	}
	count := 0
	if err := checkValue(v, 0, maxDepth, maxValues, &count); err != nil {
		return nil, err
	}
	return v, nil
}

func checkValue(v any, depth, maxDepth, maxValues int, count *int) error {
	*count++
	if *count > maxValues {
		return &errArgs{fmt.Sprintf("arguments hold more than %d values", maxValues)}
	}
	switch v := v.(type) {
	case map[string]any:
		if depth >= maxDepth {
			return &errArgs{fmt.Sprintf("arguments are nested deeper than %d levels", maxDepth)}
		}
		for _, e := range v {
			if err := checkValue(e, depth+1, maxDepth, maxValues, count); err != nil {
				return err
			}
		}
	case []any:
		if depth >= maxDepth {
			return &errArgs{fmt.Sprintf("arguments are nested deeper than %d levels", maxDepth)}
		}
		for _, e := range v {
			if err := checkValue(e, depth+1, maxDepth, maxValues, count); err != nil {
				return err
			}
		}
	case json.Number:
		return checkNumber(string(v))
	}
	return nil
}

// checkNumber refuses number literals too long or too far out of range
// for any tool to mean them.
func checkNumber(s string) error {
	if len(s) > maxNumberLen {
		return &errArgs{fmt.Sprintf("a number in the arguments is longer than %d characters", maxNumberLen)}
	}
	if i := bytes.IndexAny([]byte(s), "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp > maxExponent || exp < -maxExponent {
			return &errArgs{"a number in the arguments is out of range"}
		}
	}
	return nil
}
