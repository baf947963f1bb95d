package resourceserver

import (
	"errors"
	"net/http"
	"strings"
)

// ErrorCode is an error code of RFC 6750 §3.1.
type ErrorCode string

// The RFC 6750 §3.1 error codes. The empty code means the request carried no
// bearer credentials at all; RFC 6750 §3.1 says such a challenge SHOULD NOT
// include an error code.
const (
	// InvalidRequest: the request is malformed (repeated or unsupported
	// parameters, more than one way of sending the token, a token in the
	// query string). HTTP 400.
	InvalidRequest ErrorCode = "invalid_request"
	// InvalidToken: the token is expired, revoked, malformed, not for this
	// resource, or invalid for another reason. HTTP 401.
	InvalidToken ErrorCode = "invalid_token"
	// InsufficientScope: the token is valid but lacks scopes the request
	// needs. HTTP 403.
	InsufficientScope ErrorCode = "insufficient_scope"
	// InvalidDPoPProof: the DPoP proof is missing, malformed or does not
	// match the request or the token (RFC 9449 section 7.1). HTTP 401.
	InvalidDPoPProof ErrorCode = "invalid_dpop_proof"
	// UseDPoPNonce: the proof must carry the nonce sent in the DPoP-Nonce
	// header (RFC 9449 section 9). HTTP 401.
	UseDPoPNonce ErrorCode = "use_dpop_nonce"
)

// Sentinel errors for errors.Is. An *[Error] matches the sentinel of its
// code; ErrNoToken matches an *Error with an empty code.
var (
	ErrNoToken           = errors.New("no bearer token")
	ErrInvalidRequest    = errors.New(string(InvalidRequest))
	ErrInvalidToken      = errors.New(string(InvalidToken))
	ErrInsufficientScope = errors.New(string(InsufficientScope))
	// ErrUnavailable reports that a token could not be checked because
	// something the verifier depends on (issuer metadata, JWKS, the
	// introspection endpoint) failed. It is not a verdict on the token:
	// the middleware answers 503, not 401, so clients do not start a new
	// authorization for an outage.
	ErrUnavailable = errors.New("token validation unavailable")
)

// Error is a resource-server error. Code, Description and Scopes are sent
// to the client; Err is the internal cause, logged but never sent.
type Error struct {
	// Code is the RFC 6750 error code, or empty when no credentials were
	// presented.
	Code ErrorCode
	// Description is a short human-readable explanation sent as
	// error_description. It must not contain secrets or token contents.
	Description string
	// Scopes lists every scope the operation needs (insufficient_scope,
	// RFC 6750 §3.1): the MCP specification asks for all of them in one
	// challenge rather than one at a time.
	Scopes []string
	// Err is the cause, for logs only.
	Err error
	// DPoP answers with a DPoP challenge (RFC 9449 section 7.1) rather
	// than a Bearer one: the request used, or must use, DPoP.
	DPoP bool
	// Nonce, with UseDPoPNonce, is sent in the DPoP-Nonce header.
	Nonce string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Code == "" {
		b.WriteString("no bearer token")
	} else {
		b.WriteString(string(e.Code))
	}
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel error of e's code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNoToken:
		return e.Code == ""
	case ErrInvalidRequest:
		return e.Code == InvalidRequest
	case ErrInvalidToken:
		return e.Code == InvalidToken || e.Code == InvalidDPoPProof
	case ErrInsufficientScope:
		return e.Code == InsufficientScope
	}
	return false
}

// Status is the HTTP status RFC 6750 §3.1 assigns to the code.
func (e *Error) Status() int {
	switch e.Code {
	case InvalidRequest:
		return http.StatusBadRequest
	case InsufficientScope:
		return http.StatusForbidden
	default:
		return http.StatusUnauthorized
	}
}

func invalidToken(desc string, cause error) *Error {
	return &Error{Code: InvalidToken, Description: desc, Err: cause}
}

func invalidRequest(desc string) *Error {
	return &Error{Code: InvalidRequest, Description: desc}
}
