package proxy

import "net/http"

// handler is one link of the request chain. It serves the request or
// passes it on to the next link it was built with, and returns an error
// for a request it will not serve (a *refusal, or an upstream failure):
// the errorPages link is the one place an error becomes a response, so a
// link never writes its own error page.
//
// The exchange travels as an argument rather than in the request's
// context: a context value costs a context and a request copy per link
// that adds one, and every link needs it.
type handler interface {
	serve(w http.ResponseWriter, r *http.Request, ex *exchange) error
}

// handlerFunc adapts a function to handler, for tests and small links.
type handlerFunc func(w http.ResponseWriter, r *http.Request, ex *exchange) error

func (f handlerFunc) serve(w http.ResponseWriter, r *http.Request, ex *exchange) error {
	return f(w, r, ex)
}

// middleware builds a link in front of next. A middleware is called when a
// chain is built (New for the links every request passes, Update for each
// route's), never per request: what it decides from its configuration, a
// route's limits say, it decides once and keeps in the link it returns.
type middleware func(next handler) handler

// chain builds h behind mws: the first middleware is the outermost link,
// the first to see a request. A nil middleware is skipped, which is how a
// concern that is off (no access log) costs nothing per request.
func chain(h handler, mws ...middleware) handler {
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] != nil {
			h = mws[i](h)
		}
	}
	return h
}
