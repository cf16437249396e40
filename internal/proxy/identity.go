package proxy

import "net/http/httputil"

// setIdentity makes the headers apps read a client's identity and
// original URL from say only what the socket says. It runs in the
// forwarding link's Rewrite, on the upstream's copy of the request,
// because that is where ReverseProxy lets a proxy set them: it has
// already removed hop-by-hop headers and the client's Forwarded,
// X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto (it does so
// whenever Rewrite is set), so SetXForwarded writes values taken from the
// socket only; the other headers apps read the client's identity from are
// dropped (see proxyHeader), and X-Real-IP is rebuilt from the socket.
func setIdentity(pr *httputil.ProxyRequest) {
	out := pr.Out.Header
	for k := range out {
		if proxyHeader(k) {
			delete(out, k)
		}
	}
	pr.SetXForwarded()
	if xff := out["X-Forwarded-For"]; len(xff) == 1 {
		out["X-Real-Ip"] = xff // the socket's address alone; read-only, so shared
	}
}

// proxyHeader reports whether a request header (in canonical form) is one
// that only a proxy may set: apps and their frameworks read the client's
// address, the original scheme, host, port, path prefix or URL from these
// when they trust the proxy in front, so a client's own must never pass.
// A switch, not a map: no hashing for the ten-odd headers of a request.
func proxyHeader(k string) bool {
	switch k {
	case "X-Real-Ip", "X-Client-Ip", "Client-Ip", "True-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
		"X-Cluster-Client-Ip", "X-Original-Forwarded-For", "X-Forwarded", "Forwarded-For",
		"X-Forwarded-Port", "X-Forwarded-Server", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Scheme",
		"X-Forwarded-Uri", "X-Forwarded-Method", "X-Url-Scheme", "Front-End-Https",
		"X-Original-Url", "X-Rewrite-Url", "X-Original-Uri", "X-Original-Method":
		return true
	}
	return false
}
