package oauth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// ErrorCode is an OAuth error code as registered in the IANA "OAuth
// Extensions Error Registry".
type ErrorCode string

// Error codes of RFC 6749 section 4.1.2.1 (authorization endpoint) and 5.2
// (token endpoint), RFC 6750 section 3.1 (resource access), RFC 7591 section
// 3.2.2 (registration), RFC 7009 section 2.2.1 (revocation) and RFC 8707
// section 2 (resource indicators).
const (
	InvalidRequest          ErrorCode = "invalid_request"
	InvalidClient           ErrorCode = "invalid_client"
	InvalidGrant            ErrorCode = "invalid_grant"
	UnauthorizedClient      ErrorCode = "unauthorized_client"
	UnsupportedGrantType    ErrorCode = "unsupported_grant_type"
	InvalidScope            ErrorCode = "invalid_scope"
	AccessDenied            ErrorCode = "access_denied"
	UnsupportedResponseType ErrorCode = "unsupported_response_type"
	ServerError             ErrorCode = "server_error"
	TemporarilyUnavailable  ErrorCode = "temporarily_unavailable"
	InvalidToken            ErrorCode = "invalid_token"
	InsufficientScope       ErrorCode = "insufficient_scope"
	InvalidRedirectURI      ErrorCode = "invalid_redirect_uri"
	InvalidClientMetadata   ErrorCode = "invalid_client_metadata"
	UnsupportedTokenType    ErrorCode = "unsupported_token_type"
	InvalidTarget           ErrorCode = "invalid_target"
)

// Error is an OAuth protocol error. Code and Description are what the peer
// sees; Cause is for the server's log only and never reaches the wire, so it
// may hold storage or crypto details that Description must not.
//
// Error values are compared by code with errors.Is: errors.Is(err,
// &oauth.Error{Code: oauth.InvalidGrant}) is true for any invalid_grant
// error whatever its description.
type Error struct {
	Code        ErrorCode
	Description string // error_description: human-readable, ASCII, no secrets
	URI         string // error_uri, optional
	// Status is the HTTP status to answer with; zero means the default for
	// Code (see HTTPStatus).
	Status int
	Cause  error
}

// NewError returns an *Error with the given code and description.
func NewError(code ErrorCode, description string) *Error {
	return &Error{Code: code, Description: description}
}

// Wrap returns an *Error with the given code and description whose cause is
// err (logged, never sent).
func Wrap(code ErrorCode, description string, err error) *Error {
	return &Error{Code: code, Description: description, Cause: err}
}

func (e *Error) Error() string {
	s := string(e.Code)
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is reports whether target is an *Error with the same code. A target with
// a description also requires an equal description.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Description == "" || t.Description == e.Description)
}

// HTTPStatus is the status to answer with: Status if set, otherwise 401 for
// invalid_client and invalid_token (RFC 6749 section 5.2, RFC 6750 section
// 3.1), 403 for insufficient_scope, 500 for server_error, 503 for
// temporarily_unavailable and 400 for everything else.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case InvalidClient, InvalidToken:
		return http.StatusUnauthorized
	case InsufficientScope, AccessDenied:
		return http.StatusForbidden
	case ServerError:
		return http.StatusInternalServerError
	case TemporarilyUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// LogLevel is how loudly the server should log this error: server-side
// failures at Error, peer mistakes at Info (they are routine on a public
// endpoint and must not flood the log).
func (e *Error) LogLevel() slog.Level {
	if e.Code == ServerError || e.Code == TemporarilyUnavailable {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Response returns the wire form of e.
func (e *Error) Response() ErrorResponse {
	return ErrorResponse{Error: e.Code, ErrorDescription: e.Description, ErrorURI: e.URI}
}

// CodeOf returns the OAuth code of err if it is or wraps an *Error, and
// server_error otherwise.
func CodeOf(err error) ErrorCode {
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Code
	}
	return ServerError
}

// AsError returns err as an *Error: err itself if it is or wraps one,
// otherwise a server_error whose cause is err. A nil err yields nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	return &Error{Code: ServerError, Description: "internal error", Cause: err}
}

// ErrorResponse is the JSON error body of RFC 6749 section 5.2.
type ErrorResponse struct {
	Error            ErrorCode `json:"error"`
	ErrorDescription string    `json:"error_description,omitempty"`
	ErrorURI         string    `json:"error_uri,omitempty"`
}

// WriteError writes e as an RFC 6749 section 5.2 JSON error response with
// Cache-Control: no-store. For invalid_client after an HTTP Basic attempt
// the caller sets the WWW-Authenticate header before calling.
func WriteError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(e.HTTPStatus())
	b, _ := json.Marshal(e.Response())
	_, _ = w.Write(b)
}
