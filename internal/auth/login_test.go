package auth

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestLoginErrorsIdentical(t *testing.T) {
	clk := newClock()
	s := newService(t, clk)
	mustAddUser(t, s, "alice", b(RoleViewer, "prod"))
	ctx := t.Context()
	var msgs []string
	for _, c := range []struct{ user, pw string }{
		{"alice", "wrong-password-x"},
		{"nobody", "wrong-password-x"},
		{"Not A Name!", "wrong-password-x"},
		{"alice", ""},
	} {
		_, _, err := s.Login(ctx, c.user, c.pw, "", "192.0.2.1")
		if err != ErrUnauthenticated {
			t.Errorf("login %q/%q: %v, want exactly ErrUnauthenticated", c.user, c.pw, err)
		}
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Errorf("messages differ: %q vs %q", m, msgs[0])
		}
	}
	tok, info, err := s.Login(ctx, "ALICE ", "alice-correct-horse", "", "192.0.2.1:5555")
	if err != nil {
		t.Fatal(err)
	}
	if !info.Session || info.User != "alice" || info.Expires.Sub(info.Created) != SessionTTL || info.Name != "login from 192.0.2.1" {
		t.Errorf("session info %+v", info)
	}
	id, err := s.Authenticate(ctx, tok)
	if err != nil || id.User != "alice" || !id.Can(PermAppRead, "prod") || id.Can(PermAppRead, "dev") {
		t.Errorf("session identity %+v, %v", id, err)
	}
}

// TestLoginTiming: an unknown user costs about as much as a wrong password
// (both run argon2 with the real parameters). The bound is loose (3×, best
// of several tries) so a busy machine does not make it flaky; without the
// dummy hash the ratio is in the hundreds.
func TestLoginTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("measures real argon2")
	}
	clk := newClock()
	s, err := New(openDB(t), clk.now) // real argon2 parameters
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser("alice", "alice-correct-horse", nil); err != nil {
		t.Fatal(err)
	}
	best := map[string]time.Duration{}
	for i := range 4 {
		for _, user := range []string{"alice", "nobody"} {
			clk.advance(LoginWindow) // stay clear of the rate limiter
			start := time.Now()
			_, _, err := s.Login(t.Context(), user, "wrong-password-x", "", fmt.Sprint("198.51.100.", i))
			d := time.Since(start)
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("login %s: %v", user, err)
			}
			if b, ok := best[user]; !ok || d < b {
				best[user] = d
			}
		}
	}
	a, n := best["alice"], best["nobody"]
	ratio := float64(max(a, n)) / float64(min(a, n))
	t.Logf("wrong password %v, unknown user %v, ratio %.2f", a, n, ratio)
	if ratio >= 3 {
		t.Errorf("wrong password %v vs unknown user %v: ratio %.2f ≥ 3 reveals which users exist", a, n, ratio)
	}
}

func TestLoginRateLimit(t *testing.T) {
	ctx := t.Context()
	t.Run("a flood from one address does not lock the user out elsewhere", func(t *testing.T) {
		// The attacker's report: 30 wrong passwords from one address locked
		// the real user out for 5 minutes from everywhere.
		clk := newClock()
		s := newService(t, clk)
		mustAddUser(t, s, "alice")
		const a = "203.0.113.66"
		refusedA := 0
		for i := range 30 {
			_, _, err := s.Login(ctx, "alice", "wrong-password-x", "", fmt.Sprintf("%s:%d", a, 40000+i))
			switch {
			case err == ErrRateLimited:
				refusedA++
			case err != ErrUnauthenticated:
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		if refusedA != 30-MaxFailuresPerUserSource {
			t.Errorf("address A had %d of 30 guesses refused, want %d (only %d checked)", refusedA, 30-MaxFailuresPerUserSource, MaxFailuresPerUserSource)
		}
		// The real user, from address B, at once.
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", "198.51.100.7:5000"); err != nil {
			t.Errorf("alice from address B after a flood from A: %v, want a session", err)
		}
		// A stays throttled, even with the right password.
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", a+":1"); err != ErrRateLimited {
			t.Errorf("address A after its flood: %v, want ErrRateLimited", err)
		}
		if _, _, err := s.Login(ctx, "Alice", "alice-correct-horse", "", a+":2"); err != ErrRateLimited {
			t.Errorf("a differently cased name escaped the limit: %v", err)
		}
		clk.advance(LoginWindow - time.Second)
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", a+":3"); err != ErrRateLimited {
			t.Errorf("inside the window: %v, want ErrRateLimited", err)
		}
		clk.advance(time.Second)
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", a+":4"); err != nil {
			t.Errorf("after the window: %v", err)
		}
	})
	t.Run("per user across many sources", func(t *testing.T) {
		// A distributed guess is still bounded per user, but only many
		// sources together reach that bound.
		clk := newClock()
		s := newService(t, clk)
		mustAddUser(t, s, "alice")
		sources := MaxFailuresPerUser / MaxFailuresPerUserSource
		if sources < 2 {
			t.Fatalf("MaxFailuresPerUser %d is reachable from one source", MaxFailuresPerUser)
		}
		for i := range sources {
			for j := range MaxFailuresPerUserSource {
				if _, _, err := s.Login(ctx, "alice", "wrong-password-x", "", fmt.Sprintf("203.0.113.%d", i)); err != ErrUnauthenticated {
					t.Fatalf("source %d failure %d: %v", i, j, err)
				}
			}
		}
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", "198.51.100.7"); err != ErrRateLimited {
			t.Errorf("after %d failures from %d sources: %v, want ErrRateLimited", MaxFailuresPerUser, sources, err)
		}
		if _, _, err := s.Login(ctx, "bob", "wrong-password-x", "", "198.51.100.7"); err != ErrUnauthenticated {
			t.Errorf("another user: %v", err)
		}
	})
	t.Run("an IPv6 /64 is one source", func(t *testing.T) {
		s := newService(t, newClock())
		mustAddUser(t, s, "alice")
		for i := range MaxFailuresPerUserSource {
			if _, _, err := s.Login(ctx, "alice", "wrong-password-x", "", fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1)); err != ErrUnauthenticated {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", "[2001:db8:1:2:ffff::1]:443"); err != ErrRateLimited {
			t.Errorf("another address of the same /64: %v, want ErrRateLimited", err)
		}
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", "[2001:db8:1:3::1]:443"); err != nil {
			t.Errorf("another /64: %v", err)
		}
	})
	t.Run("per source", func(t *testing.T) {
		clk := newClock()
		s := newService(t, clk)
		mustAddUser(t, s, "alice")
		for i := range MaxFailuresPerSource {
			// Different users and ports, one address.
			if _, _, err := s.Login(ctx, fmt.Sprint("user", i), "wrong-password-x", "", fmt.Sprintf("203.0.113.9:%d", 40000+i)); err != ErrUnauthenticated {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", "203.0.113.9:1"); err != ErrRateLimited {
			t.Errorf("from the guessing address: %v, want ErrRateLimited", err)
		}
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", "[2001:db8::1]:443"); err != nil {
			t.Errorf("from another address: %v", err)
		}
	})
	t.Run("parallel guesses", func(t *testing.T) {
		// Failures are counted before the password check, so a burst of
		// concurrent guesses gets no more tries than a sequence would.
		s := newService(t, newClock())
		mustAddUser(t, s, "alice")
		const n = 30
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, _, err := s.Login(ctx, "alice", "wrong-password-x", "", fmt.Sprint("203.0.113.1:", 40000+i))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		tried := 0
		for err := range errs {
			if err == ErrUnauthenticated {
				tried++
			} else if err != ErrRateLimited {
				t.Fatal(err)
			}
		}
		if tried != MaxFailuresPerUserSource {
			t.Errorf("%d of %d parallel guesses were checked, want %d", tried, n, MaxFailuresPerUserSource)
		}
	})
	t.Run("asking for the code is not a failure", func(t *testing.T) {
		clk := newClock()
		s := newService(t, clk)
		mustAddUser(t, s, "alice")
		confirmMFA(t, s, clk, "alice")
		for range MaxFailuresPerUserSource + 1 {
			if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", "203.0.113.1"); !errors.Is(err, ErrMFARequired) {
				t.Fatalf("%v, want ErrMFARequired", err)
			}
		}
	})
	t.Run("success resets the user", func(t *testing.T) {
		clk := newClock()
		s := newService(t, clk)
		mustAddUser(t, s, "alice")
		for range MaxFailuresPerUserSource - 1 {
			s.Login(ctx, "alice", "wrong-password-x", "", "203.0.113.1")
		}
		if _, _, err := s.Login(ctx, "alice", "alice-correct-horse", "", "203.0.113.1"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Login(ctx, "alice", "wrong-password-x", "", "203.0.113.1"); err != ErrUnauthenticated {
			t.Errorf("after a success the count should restart: %v", err)
		}
	})
}
