package authserver

import (
	"net/http"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/web"
)

// handleConsent receives the user's decision from the consent page. The
// user must still be signed in; a denial is sent to the client as
// access_denied (RFC 6749 section 4.1.2.1).
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	f, err := readForm(w, r)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", oauth.AsError(err).Description)
		return
	}
	req, cl, ok := s.resumeRequest(w, r, f)
	if !ok {
		return
	}
	if cl == nil { // a sign-in only asks no consent
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", "There is nothing to consent to.")
		return
	}
	ctx := r.Context()
	user, authTime := s.currentUser(ctx, r)
	if user == nil {
		s.showLogin(w, r, req, cl, "", "Your session ended. Sign in again.", http.StatusOK)
		return
	}
	// Groups may have changed since the page was shown: grant no more
	// than the user may hold now.
	if req, err = s.forUser(req, user); err != nil {
		s.redirectError(w, r, req, err)
		return
	}
	switch f.get("decision") {
	case "allow":
		if err := s.grantConsent(ctx, req, cl, user); err != nil {
			s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
			return
		}
		s.issueCode(w, r, req, cl, user, authTime)
	case "deny":
		s.redirectError(w, r, req, oauth.NewError(oauth.AccessDenied, "the user denied the request"))
	default:
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", "No decision was submitted.")
	}
}

// handleConsents lists the signed-in user's remembered consents.
func (s *Server) handleConsents(w http.ResponseWriter, r *http.Request) {
	s.renderConsents(w, r, "")
}

func (s *Server) renderConsents(w http.ResponseWriter, r *http.Request, msg string) {
	ctx := r.Context()
	user, _ := s.currentUser(ctx, r)
	if user == nil {
		s.errorPage(w, r, http.StatusUnauthorized, "Not signed in", "Sign in through an application first to manage its permissions.")
		return
	}
	list, err := s.store.ListConsents(ctx, user.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "listing consents failed", "error", err.Error())
		s.errorPage(w, r, http.StatusInternalServerError, "Temporary error", "Try again later.")
		return
	}
	page := web.ConsentsPage{Common: s.common(w, r, user), Action: s.endpoints.consentsRevoke, Message: msg}
	for _, c := range list {
		name := c.ClientID
		if cl := s.static[c.ClientID]; cl != nil {
			name = cl.name()
		} else if sc, err := s.store.GetClient(ctx, c.ClientID); err == nil && sc.Metadata.ClientName != "" {
			name = sc.Metadata.ClientName
		}
		page.Consents = append(page.Consents, web.ConsentItem{ClientID: c.ClientID, ClientName: name, Scopes: c.Scopes,
			Resources: c.Resources, Updated: c.UpdatedAt.UTC().Format(time.DateOnly)})
	}
	s.render(w, r, http.StatusOK, web.PageConsents, "", page)
}

// handleConsentsRevoke withdraws a consent and revokes the refresh tokens
// (and the newest access tokens) the client holds for the user.
func (s *Server) handleConsentsRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := readForm(w, r)
	if err != nil || !s.checkCSRF(r, f) {
		s.errorPage(w, r, http.StatusForbidden, "Request refused", "The form was not submitted from this site or has expired.")
		return
	}
	user, _ := s.currentUser(ctx, r)
	if user == nil {
		s.errorPage(w, r, http.StatusUnauthorized, "Not signed in", "Your session ended.")
		return
	}
	clientID := f.get("client_id")
	if err := s.revokeGrant(ctx, user.ID, clientID); err != nil {
		s.log.ErrorContext(ctx, "revoking consent failed", "error", err.Error())
		s.errorPage(w, r, http.StatusInternalServerError, "Temporary error", "Try again later.")
		return
	}
	s.renderConsents(w, r, "Access revoked.")
}
