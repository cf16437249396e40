package api

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/haven-platform/haven/internal/audit"
	"github.com/haven-platform/haven/internal/auth"
)

// PermPublic marks the few routes anyone may call: health and login.
const PermPublic auth.Permission = "public"

// handlerFunc is an API handler that knows who calls.
type handlerFunc func(w http.ResponseWriter, r *http.Request, id auth.Identity)

// Route is one entry of the API's route table.
type Route struct {
	Method  string
	Pattern string
	// Perm is the permission the route needs, checked against the
	// environment in the path ({env}) when there is one; routes without
	// {env} and an environment-scoped permission need it somewhere and
	// filter their answer.
	Perm auth.Permission
	// Action names a mutating route in the audit trail ("" for reads).
	Action string
	handle handlerFunc
}

// Routes returns the route table, for documentation and the permission
// matrix test.
func (h *Handler) Routes() []Route { return append([]Route(nil), h.routes...) }

// register adds a route. A route without a permission cannot be
// registered: forgetting one is a programming error found at start-up,
// never an open endpoint.
func (h *Handler) register(rt Route) {
	if rt.Perm == "" {
		panic(fmt.Sprintf("api: route %s %s registered without a permission", rt.Method, rt.Pattern))
	}
	h.routes = append(h.routes, rt)
	h.mux.HandleFunc(rt.Method+" "+rt.Pattern, h.guard(rt))
}

// guard authenticates, authorizes and audits around a route's handler.
// Mutating calls are recorded before they run and refused (503) when the
// record cannot be written: no change happens without a trace.
//
// Refusals are recorded without letting a flood of them slow authorized
// work or grow the trail without bound: unauthenticated requests are only
// counted, per source and minute (audit.Aggregator), and a known actor's
// denied calls get a record each up to deniedPerMinute a minute, then are
// counted too. Nothing on a refused request's path waits for an fsync
// beyond that budget.
func (h *Handler) guard(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rt.Perm == PermPublic {
			rt.handle(w, r, auth.Identity{})
			return
		}
		env := r.PathValue("env")
		id, err := h.auth.Authenticate(r.Context(), bearer(r))
		if err != nil {
			h.denials.Add(audit.Record{Actor: "anonymous", Action: "authenticate", Target: "unauthenticated requests",
				Source: sourceAddr(r), Result: "denied", Status: http.StatusUnauthorized})
			writeJSON(w, http.StatusUnauthorized, Error{Kind: KindUnauthenticated, Message: "authentication required: log in with `haven login` or pass a token (HAVEN_TOKEN)"})
			return
		}
		if !allowed(id, rt.Perm, env) {
			h.recordDenied(r, actor(id), orRead(rt.Action), rt.Method+" "+r.URL.Path, env)
			where := ""
			if env != "" {
				where = " on environment " + env
			}
			writeJSON(w, http.StatusForbidden, Error{Kind: KindForbidden, Message: fmt.Sprintf("permission %s needed%s", rt.Perm, where)})
			return
		}
		if rt.Action == "" {
			rt.handle(w, r, id)
			return
		}
		target := strings.TrimPrefix(r.URL.Path, "/v1/")
		if err := h.record(r, actor(id), rt.Action, target, env, "started", 0); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, Error{Kind: KindUnavailable, Message: "the audit trail cannot be written, so no change is accepted: " + err.Error()})
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		rt.handle(rec, r, id)
		result := "ok"
		if rec.status >= 400 {
			result = "failed"
		}
		_ = h.record(r, actor(id), rt.Action, target, env, result, rec.status)
	}
}

// allowed decides a route's permission for id. With no environment in the
// path, an environment-scoped permission held anywhere is enough (the
// handler filters what it returns).
func allowed(id auth.Identity, perm auth.Permission, env string) bool {
	if env != "" || perm == auth.PermAdmin || perm == auth.PermTokenSelf {
		return id.Can(perm, env)
	}
	for _, b := range id.Bindings {
		if id.Can(perm, b.Env) {
			return true
		}
	}
	return false
}

// record appends to the audit trail; the error matters only to callers
// that must fail closed.
func (h *Handler) record(r *http.Request, who, action, target, env, result string, status int) error {
	_, err := h.audit.Append(audit.Record{Actor: who, Action: action, Target: target, Env: env,
		Source: sourceAddr(r), UserAgent: r.UserAgent(), Result: result, Status: status})
	if err != nil {
		h.log.Error("audit append failed", "action", action, "target", target, "err", err)
	}
	return err
}

// deniedPerMinute is how many denied calls of one actor a minute get a
// record each. A user probing what they may do stays fully visible; one
// hammering a forbidden route (a leaked token, a broken script) is
// counted past it, so it cannot slow everyone's appends.
const deniedPerMinute = 30

// recordDenied records an authenticated actor's refused call: on its own
// while the actor's budget lasts, counted after.
func (h *Handler) recordDenied(r *http.Request, who, action, target, env string) {
	h.recordRefused(r, "denied "+who, deniedPerMinute,
		audit.Record{Actor: who, Action: action, Target: target, Env: env, Status: http.StatusForbidden},
		"denied calls", http.StatusForbidden)
}

// recordRefused is the one way a refusal by a known name (an actor, a
// login's source) reaches the trail: rec becomes a record of its own while
// key's budget of perMinute lasts this minute; past it the refusal is
// counted, as "<counted> beyond N a minute" with countedStatus, so a flood
// costs no fsync per request.
func (h *Handler) recordRefused(r *http.Request, key string, perMinute int, rec audit.Record, counted string, countedStatus int) {
	if h.denials.Allow(key, perMinute) {
		_ = h.record(r, rec.Actor, rec.Action, rec.Target, rec.Env, "denied", rec.Status)
		return
	}
	h.denials.Add(audit.Record{Actor: rec.Actor, Action: rec.Action, Target: fmt.Sprintf("%s beyond %d a minute", counted, perMinute),
		Env: rec.Env, Source: sourceAddr(r), Result: "denied", Status: countedStatus})
}

func actor(id auth.Identity) string {
	if id.User != "" {
		return id.User
	}
	return "token:" + id.TokenID
}

func orRead(action string) string {
	if action == "" {
		return "read"
	}
	return action
}

func bearer(r *http.Request) string {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

// sourceAddr is the caller's address from the socket (never from headers a
// client can set); "local" for the unix socket.
func sourceAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || host == "" {
		if r.RemoteAddr == "" || r.RemoteAddr == "@" {
			return "local"
		}
		return r.RemoteAddr
	}
	return host
}
