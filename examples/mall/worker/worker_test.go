package main

import (
	"strings"
	"testing"
	"time"
)

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c := newCode()
		if len(c) != 11 || !strings.HasPrefix(c, "MALL-") {
			t.Fatalf("bad code %q", c)
		}
		for _, r := range c[5:] {
			if !strings.ContainsRune(codeAlphabet, r) {
				t.Fatalf("code %q has %q outside the alphabet", c, r)
			}
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Errorf("only %d distinct codes in 200", len(seen))
	}
}

func TestPercentOff(t *testing.T) {
	for range 200 {
		if p := percentOff(); p < 5 || p > 40 || p%5 != 0 {
			t.Fatalf("percentOff() = %d", p)
		}
	}
}

func TestHealthy(t *testing.T) {
	w := &worker{interval: 10 * time.Second}
	now := time.Now()
	if w.healthy(now) {
		t.Fatal("healthy before any coupon")
	}
	w.lastOK.Store(now.Add(-29 * time.Second).UnixNano())
	if !w.healthy(now) {
		t.Fatal("unhealthy within three intervals")
	}
	w.lastOK.Store(now.Add(-31 * time.Second).UnixNano())
	if w.healthy(now) {
		t.Fatal("healthy after three missed intervals")
	}
}
