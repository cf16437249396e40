package proxy

import (
	"net/http/httptest"
	"net/http/httputil"
	"testing"
)

// TestSetIdentity: whatever the client claims, the upstream learns the
// client's address, host and scheme from the socket only.
func TestSetIdentity(t *testing.T) {
	in := httptest.NewRequest("GET", "http://shop.example/x", nil)
	in.RemoteAddr = "192.0.2.7:5555"
	for _, k := range []string{"X-Real-Ip", "True-Client-Ip", "X-Forwarded-Prefix", "X-Original-Url", "Cf-Connecting-Ip"} {
		in.Header.Set(k, "10.0.0.1")
	}
	in.Header.Set("Cookie", "a=b")
	// What ReverseProxy hands Rewrite: a copy, without X-Forwarded-For,
	// -Host, -Proto and Forwarded.
	pr := &httputil.ProxyRequest{In: in, Out: in.Clone(in.Context())}
	setIdentity(pr)
	out := pr.Out.Header
	for k, want := range map[string]string{
		"X-Forwarded-For": "192.0.2.7", "X-Real-Ip": "192.0.2.7", "X-Forwarded-Host": "shop.example",
		"X-Forwarded-Proto": "http", "True-Client-Ip": "", "X-Forwarded-Prefix": "", "X-Original-Url": "",
		"Cf-Connecting-Ip": "", "Cookie": "a=b",
	} {
		if got := out.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
}

func TestProxyHeader(t *testing.T) {
	for k, want := range map[string]bool{"X-Real-Ip": true, "X-Original-Url": true, "Front-End-Https": true,
		"Cookie": false, "X-Request-Id": false, "Authorization": false} {
		if got := proxyHeader(k); got != want {
			t.Errorf("proxyHeader(%q) = %v", k, got)
		}
	}
}
