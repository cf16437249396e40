package api

import (
	"errors"
	"net/http"

	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
)

// login exchanges a user's password (and TOTP code) for a session token.
// Every attempt is audited; failures answer the same whether or not the
// user exists. A session is handed out only once its record is on disk;
// failures get a record each while their source's budget lasts
// (failedLoginsPerMinute) and are counted after, so a flood of guesses,
// which the limiter answers without checking a password, costs no fsync
// per request.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	var req LoginRequest
	if !decode(w, r, &req) {
		return
	}
	source := sourceAddr(r)
	token, info, err := h.auth.Login(r.Context(), req.User, req.Password, req.Code, source)
	if err != nil {
		h.recordRefused(r, "login "+source, failedLoginsPerMinute,
			audit.Record{Actor: req.User, Action: "login", Target: "user " + req.User},
			"failed logins", loginStatus(err))
		writeError(w, err)
		return
	}
	if aerr := h.record(r, req.User, "login", "user "+req.User, "", "ok", 0); aerr != nil {
		writeError(w, aerr) // no session without its audit record
		return
	}
	writeJSON(w, http.StatusOK, TokenResponse{Token: token, Info: info})
}

// failedLoginsPerMinute is how many failed logins from one source a minute
// get a record each; the login limiter refuses a source's guesses well
// before that, so past it the records would only repeat "throttled".
const failedLoginsPerMinute = 30

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	writeJSON(w, http.StatusOK, id)
}

func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	user := id.User
	if r.URL.Query().Get("all") == "1" {
		if !id.Can(auth.PermAdmin, "") {
			writeJSON(w, http.StatusForbidden, Error{Kind: KindForbidden, Message: "permission admin needed to list everyone's tokens"})
			return
		}
		user = ""
	}
	list, err := h.auth.ListTokens(user)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(list))
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req TokenRequest
	if !decode(w, r, &req) {
		return
	}
	user := id.User
	if req.User != "" && req.User != id.User {
		if !id.Can(auth.PermAdmin, "") {
			writeJSON(w, http.StatusForbidden, Error{Kind: KindForbidden, Message: "permission admin needed to create a token for another user"})
			return
		}
		user = req.User
	}
	if user == "" {
		writeError(w, badRequest("this token belongs to no user; log in as a user to create tokens"))
		return
	}
	// The calling credential bounds the new one: never more scope, never a
	// later expiry (auth.Delegate), whoever the token is for. With the
	// caller's password (sudo mode) the password is that credential: the
	// caller's roles, up to a year. It is checked like a login, from the
	// socket's address, and a wrong one fails the call (401), which the
	// guard audits as this token.create's outcome; the password itself is
	// in no answer, log or audit record.
	proof := auth.Proof{Password: req.Password, Code: req.Code, Source: sourceAddr(r)}
	token, info, err := h.auth.CreateToken(r.Context(), id, user, req.Name, req.Bindings, req.TTL.D(), proof)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, TokenResponse{Token: token, Info: info})
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	tokenID := r.PathValue("id")
	if !id.Can(auth.PermAdmin, "") {
		own, err := h.auth.ListTokens(id.User)
		if err != nil {
			writeError(w, err)
			return
		}
		mine := false
		for _, t := range own {
			mine = mine || t.ID == tokenID
		}
		if !mine {
			writeError(w, errors.Join(auth.ErrNotFound, errors.New("you have no token "+tokenID)))
			return
		}
	}
	if err := h.auth.RevokeToken(tokenID); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// enableMFA starts an enrolment. It needs the password and, when MFA is
// on, a current code: a bearer token alone must not be able to replace a
// user's second factor. Wrong ones count in the login rate limiter.
func (h *Handler) enableMFA(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req MFAEnableRequest
	if !decode(w, r, &req) {
		return
	}
	url, secret, err := h.auth.EnableMFA(r.Context(), id.User, req.Password, req.Code, sourceAddr(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, MFAEnableResponse{URL: url, Secret: secret})
}

func (h *Handler) confirmMFA(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req MFAConfirmRequest
	if !decode(w, r, &req) {
		return
	}
	if err := h.auth.ConfirmMFA(id.User, req.Code, sourceAddr(r)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// disableMFA removes the caller's own second factor, with the password and
// a current code, like enableMFA.
func (h *Handler) disableMFA(w http.ResponseWriter, r *http.Request, id auth.Identity) {
	var req MFADisableRequest
	if !decode(w, r, &req) {
		return
	}
	if err := h.auth.DisableMFA(r.Context(), id.User, req.Password, req.Code, sourceAddr(r)); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// resetMFA is the admin's way back for a user who lost their device.
func (h *Handler) resetMFA(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	if err := h.auth.ResetMFA(r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	users, err := h.auth.ListUsers()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(users))
}

func (h *Handler) addUser(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	var req UserRequest
	if !decode(w, r, &req) {
		return
	}
	if err := h.auth.AddUser(req.Name, req.Password, req.Bindings); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (h *Handler) removeUser(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	if err := h.auth.RemoveUser(r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) setBindings(w http.ResponseWriter, r *http.Request, _ auth.Identity) {
	var bindings []auth.Binding
	if !decode(w, r, &bindings) {
		return
	}
	if err := h.auth.SetBindings(r.PathValue("name"), bindings); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// loginStatus is the status a failed login is answered with.
func loginStatus(err error) int {
	_, status := errorKind(err)
	return status
}
