package pii

import (
	"fmt"
	"strings"
)

// Kind is a class of sensitive data.
type Kind uint8

// Kinds, in the priority order used when two findings overlap: a secret
// wins over a card number it contains, a card over a phone number.
const (
	Secret Kind = iota + 1
	Card
	IBAN
	NationalID
	Email
	Phone
	IP
	numKinds
)

// Kinds lists every kind.
func Kinds() []Kind { return []Kind{Secret, Card, IBAN, NationalID, Email, Phone, IP} }

var kindNames = [numKinds]string{"", "secret", "card", "iban", "national_id", "email", "phone", "ip"}

var kindPhrases = [numKinds]string{"", "a secret", "a payment card number", "an IBAN", "a national identifier", "an e-mail address", "a phone number", "an IP address"}

func (k Kind) String() string {
	if k == 0 || k >= numKinds {
		return "unknown"
	}
	return kindNames[k]
}

// phrase names the kind in a sentence ("a payment card number").
func (k Kind) phrase() string {
	if k == 0 || k >= numKinds {
		return "sensitive data"
	}
	return kindPhrases[k]
}

// ParseKind reads a kind by its name: secret, card, iban, national_id,
// email, phone or ip.
func ParseKind(s string) (Kind, error) {
	for k := Secret; k < numKinds; k++ {
		if kindNames[k] == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("pii: unknown detector %q (want one of %s)", s, strings.Join(kindNames[1:], ", "))
}

// Action is what the policy does with a finding.
type Action uint8

// Actions. The zero Action inherits: from the detector's rule, then from
// Options.Default, then from the documented default of the direction.
const (
	Inherit Action = iota
	// Off leaves the data as it is.
	Off
	// Mask hides most of the value and keeps its shape and a few telling
	// characters: "j***@example.com", "**** **** **** 1111", "ghp_****".
	Mask
	// Redact replaces the whole value with "[REDACTED:<kind>]".
	Redact
	// Block refuses the call (arguments) or withholds the result. In logs,
	// where nothing can be refused, it redacts.
	Block
)

var actionNames = [...]string{"", "off", "mask", "redact", "block"}

func (a Action) String() string {
	if int(a) < len(actionNames) && a != Inherit {
		return actionNames[a]
	}
	return "inherit"
}

// ParseAction reads an action: off, mask, redact or block ("" inherits).
func ParseAction(s string) (Action, error) {
	if s == "" {
		return Inherit, nil
	}
	for a := Off; int(a) < len(actionNames); a++ {
		if actionNames[a] == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("pii: unknown action %q (want off, mask, redact or block)", s)
}

// Direction is where data flows.
type Direction uint8

// Directions.
const (
	// Arguments are tools/call and prompts/get arguments going upstream.
	Arguments Direction = iota
	// Results are what the upstream answers.
	Results
	// Logs is text bound for the operational or audit log.
	Logs
	numDirections
)

func (d Direction) String() string {
	switch d {
	case Arguments:
		return "arguments"
	case Results:
		return "results"
	case Logs:
		return "logs"
	}
	return "unknown"
}

// Rule gives a detector's action in each direction. Zero fields inherit.
type Rule struct {
	Arguments, Results, Logs Action
}

func (r Rule) get(d Direction) Action {
	switch d {
	case Arguments:
		return r.Arguments
	case Results:
		return r.Results
	}
	return r.Logs
}
