package auth

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// propEnvs are the environments the property test draws from; "other" is
// never bound, so it probes grants that reach every environment.
var propEnvs = []string{"prod", "staging", "dev"}

func randBinding(r *rand.Rand) Binding {
	role := Roles()[r.IntN(len(Roles()))]
	if role == RoleAdmin || r.IntN(4) == 0 {
		return Binding{Role: role, Env: AllEnvs}
	}
	return Binding{Role: role, Env: propEnvs[r.IntN(len(propEnvs))]}
}

func randBindings(r *rand.Rand, max int) []Binding {
	bs := make([]Binding, r.IntN(max+1))
	for i := range bs {
		bs[i] = randBinding(r)
	}
	return bs
}

// grantsWithin reports the first (permission, env) that got holds and
// limit does not; ok if none.
func grantsWithin(got, limit Identity) (Permission, string, bool) {
	for _, p := range Permissions() {
		for _, env := range append([]string{"", "other"}, propEnvs...) {
			if got.Can(p, env) && !limit.Can(p, env) {
				return p, env, false
			}
		}
	}
	return "", "", true
}

// propCred is a credential the property test holds: its secret, and the
// credential it was created with (nil for a root: a login session or a
// token issued as EnsureAdmin does).
type propCred struct {
	secret string
	info   TokenInfo
	parent *propCred
	// atBirth is what the parent acted as when this was created; for a
	// token created with a proof, what the proving user held then.
	atBirth Identity
	// proof: created with the caller's password (sudo mode), bounded by
	// the password's credential (the user's roles, MaxTokenTTL from born)
	// rather than by parent.
	proof bool
	born  time.Time
}

// TestDelegationNeverWidens is a property test over a real Service:
// random users with random bindings, root credentials of random
// lifetimes, then random sequences of CreateToken (from any live
// credential, for its own user or, as an admin, for another, with random
// asked bindings and lifetimes), SetBindings, revocations and time
// passing. After every step, for every derived credential and every
// (permission, environment): it never grants what its creator could not,
// and it never expires later. Same-user pairs are compared as they act
// now (the user's current roles cut both); a token an admin made for
// someone else is compared with the admin's credential as it was at
// creation, and always with its own user's current roles.
//
// A quarter of the creations re-prove the caller's password (Proof, sudo
// mode), a third of those with a wrong one. A proven token is bounded by
// the password instead of its parent: it never grants more than the
// proving user held at its creation (cut, for an admin's token for someone
// else, to that user's roles), and never lives past its creation plus
// MaxTokenTTL; a wrong password never creates anything, and a proof does
// not revive a dead calling token.
//
// HAVEN_PROP_SEED=n replays a run; the seed is logged.
func TestDelegationNeverWidens(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("HAVEN_PROP_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("HAVEN_PROP_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (replay with HAVEN_PROP_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	worlds, steps := 60, 80
	if testing.Short() {
		worlds = 15
	}
	created, refused, proved := 0, 0, 0
	deadline := time.Now().Add(2 * time.Minute) // a bound on a loaded machine, not a pass condition
	for w := 0; w < worlds && time.Now().Before(deadline); w++ {
		c, r2, p := runDelegationWorld(t, r, steps)
		created, refused, proved = created+c, refused+r2, proved+p
		if t.Failed() {
			t.Fatalf("world %d failed (seed %d)", w, seed)
		}
	}
	t.Logf("%d derived credentials created (%d with a proof), %d asks refused", created, proved, refused)
	if created < 100 || refused < 100 || proved < 20 {
		t.Errorf("the generator explores too little: %d created, %d of them with a proof, %d refused", created, proved, refused)
	}
}

func runDelegationWorld(t *testing.T, r *rand.Rand, steps int) (created, refused, proved int) {
	t.Helper()
	clk := newClock()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "haven.db"), 0o600, &bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	s.argon = cheapArgon
	users := []string{"ann", "ben", "cat"}
	for i, u := range users {
		bs := randBindings(r, 3)
		if i == 0 {
			bs = append(bs, b(RoleAdmin, AllEnvs)) // someone can always manage users
		}
		if err := s.AddUser(u, u+"-correct-horse", bs); err != nil {
			t.Fatal(err)
		}
	}
	var creds []*propCred
	root := func(user string) {
		var secret string
		var info TokenInfo
		if r.IntN(2) == 0 {
			var err error
			if secret, info, err = s.Login(t.Context(), user, user+"-correct-horse", "", "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
		} else {
			ttl := time.Hour + time.Duration(r.Int64N(int64(MaxTokenTTL-time.Hour)))
			err := s.db.Update(func(tx *bbolt.Tx) error {
				var u userRecord
				if _, err := get(tx.Bucket(usersBucket), user, &u); err != nil {
					return err
				}
				var err error
				secret, info, err = s.issueToken(tx, user, "root", u.Bindings, s.now(), s.now().Add(ttl), false)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		creds = append(creds, &propCred{secret: secret, info: info})
	}
	for _, u := range users {
		root(u)
	}
	// acting is what c acts as now: through Authenticate when it still
	// authenticates, else what its record would act as (a revoked or
	// expired parent still bounds what its children may do).
	acting := func(c *propCred) (Identity, bool) {
		if id, err := s.Authenticate(t.Context(), c.secret); err == nil {
			return id, true
		}
		u, err := s.GetUser(c.info.User)
		if err != nil {
			return Identity{User: c.info.User}, false
		}
		return Identity{User: c.info.User, Bindings: intersect(c.info.Bindings, u.Bindings)}, false
	}
	check := func(step int, what string) {
		for _, c := range creds {
			if c.parent == nil {
				continue
			}
			if c.proof {
				if c.info.Expires.After(c.born.Add(MaxTokenTTL)) {
					t.Errorf("step %d (%s): token %s created with a proof at %v expires %v, beyond the most a password grants (%v)", step, what, c.info.ID, c.born, c.info.Expires, MaxTokenTTL)
				}
			} else if c.info.Expires.After(c.parent.info.Expires) {
				t.Errorf("step %d (%s): token %s expires %v, after its creator %s (%v)", step, what, c.info.ID, c.info.Expires, c.parent.info.ID, c.parent.info.Expires)
			}
			got, alive := acting(c)
			if !alive {
				continue
			}
			limit := c.atBirth
			if c.info.User == c.parent.info.User && !c.proof {
				limit, _ = acting(c.parent)
			}
			if p, env, ok := grantsWithin(got, limit); !ok {
				t.Errorf("step %d (%s): token %s of %s (bindings %v, acting %v) may %s on %q, which its creator %s (acting %v) may not",
					step, what, c.info.ID, c.info.User, c.info.Bindings, got.Bindings, p, env, c.parent.info.ID, limit.Bindings)
			}
			u, _ := s.GetUser(c.info.User)
			if p, env, ok := grantsWithin(got, Identity{User: u.Name, Bindings: u.Bindings}); !ok {
				t.Errorf("step %d (%s): token %s may %s on %q, which its user %s (%v) may not", step, what, c.info.ID, p, env, u.Name, u.Bindings)
			}
		}
	}
	for step := range steps {
		var what string
		switch op := r.IntN(10); {
		case op < 6: // derive a token
			parent := creds[r.IntN(len(creds))]
			id, err := s.Authenticate(t.Context(), parent.secret)
			if err != nil {
				what = "create from a dead credential"
				var proof Proof
				if r.IntN(2) == 0 { // the right password does not revive it
					proof = Proof{Password: parent.info.User + "-correct-horse", Source: "198.51.100.1"}
				}
				if _, _, err := s.CreateToken(t.Context(), Identity{User: parent.info.User, TokenID: parent.info.ID, Bindings: parent.info.Bindings, Expires: parent.info.Expires}, "", "child", nil, 0, proof); err == nil {
					t.Errorf("step %d: a revoked or expired credential %s created a token (proof %t)", step, parent.info.ID, proof.Password != "")
				}
				continue
			}
			user := id.User
			if r.IntN(4) == 0 && id.Can(PermAdmin, "") { // the api lets only admins name another user
				user = users[r.IntN(len(users))]
			}
			asked := randBindings(r, 2)
			var ttl time.Duration
			switch r.IntN(3) {
			case 1:
				ttl = time.Minute + time.Duration(r.Int64N(int64(14*24*time.Hour)))
			case 2:
				ttl = time.Minute + time.Duration(r.Int64N(int64(MaxTokenTTL)))
			}
			what = "create"
			var proof Proof
			wrong := false
			atBirth := id
			if r.IntN(4) == 0 {
				what = "create with a proof"
				// Many sources, so the limiter rarely ends the world's proofs.
				proof = Proof{Password: id.User + "-correct-horse", Source: "198.51.100." + strconv.Itoa(r.IntN(250))}
				if wrong = r.IntN(3) == 0; wrong {
					proof.Password = "not-" + proof.Password
				}
				u, err := s.GetUser(id.User)
				if err != nil {
					t.Fatal(err)
				}
				atBirth = Identity{User: u.Name, Bindings: u.Bindings}
			}
			secret, info, err := s.CreateToken(t.Context(), id, user, "child", asked, ttl, proof)
			if wrong && (err == nil || !errors.Is(err, ErrUnauthenticated) && !errors.Is(err, ErrRateLimited)) {
				t.Errorf("step %d: a wrong password created a token or failed otherwise: %v", step, err)
			}
			if err != nil {
				refused++
				continue
			}
			created++
			if proof.Password != "" {
				proved++
			}
			creds = append(creds, &propCred{secret: secret, info: info, parent: parent, atBirth: atBirth, proof: proof.Password != "", born: clk.now()})
		case op < 7:
			what = "set bindings"
			bs := randBindings(r, 3)
			u := users[r.IntN(len(users))]
			if u == users[0] {
				bs = append(bs, b(RoleAdmin, AllEnvs))
			}
			if err := s.SetBindings(u, bs); err != nil {
				t.Fatal(err)
			}
		case op < 8:
			what = "revoke"
			if err := s.RevokeToken(creds[r.IntN(len(creds))].info.ID); err != nil && !errors.Is(err, ErrNotFound) { // pruned
				t.Fatal(err)
			}
		case op < 9:
			what = "time passes"
			clk.advance(time.Duration(r.Int64N(int64(30 * 24 * time.Hour))))
		default:
			what = "a new root"
			root(users[r.IntN(len(users))])
		}
		check(step, what)
	}
	return created, refused, proved
}

// TestDelegateMessages pins the refusals' wording: what was refused, why,
// and what would be accepted.
func TestDelegateMessages(t *testing.T) {
	now := time.Date(2030, 1, 2, 10, 2, 30, 0, time.UTC)
	bound := Delegation{Bindings: []Binding{b(RoleViewer, "prod")}, NotAfter: now.Add(10 * time.Minute)}
	holder := []Binding{b(RoleAdmin, AllEnvs)}
	for _, c := range []struct {
		asked []Binding
		ttl   time.Duration
		want  string
	}{
		{[]Binding{b(RoleAdmin, AllEnvs)}, 0, "invalid: admin@* is wider than the credential creating the token (it acts as viewer@prod): a token can only be narrowed; create it from a credential that holds admin@*"},
		{nil, 90 * 24 * time.Hour, "invalid: the token would outlive the credential creating it (expires 2030-01-02 10:12 UTC): ask for --ttl 10m or less"},
		{nil, 11 * time.Minute, "invalid: the token would outlive the credential creating it (expires 2030-01-02 10:12 UTC): ask for --ttl 10m or less"},
	} {
		_, _, err := Delegate(bound, holder, c.asked, c.ttl, DefaultTokenTTL, now)
		if err == nil || err.Error() != c.want {
			t.Errorf("Delegate(%v, %v) = %v\nwant %s", c.asked, c.ttl, err, c.want)
		}
	}
	// Defaults are the widest allowed: the bound's bindings and expiry.
	bs, exp, err := Delegate(bound, holder, nil, 0, DefaultTokenTTL, now)
	if err != nil || len(bs) != 1 || bs[0] != b(RoleViewer, "prod") || !exp.Equal(bound.NotAfter) {
		t.Errorf("defaults: %v, %v, %v", bs, exp, err)
	}
	if _, _, err := Delegate(Delegation{Bindings: holder}, holder, nil, 0, DefaultTokenTTL, now); err == nil {
		t.Error("a bound without an expiry was treated as unbounded")
	}
	if got := shortDuration(2160*time.Hour + 59*time.Second); got != "2160h" {
		t.Errorf("shortDuration = %q", got)
	}
	if got := shortDuration(11*time.Hour + 59*time.Minute + 30*time.Second); got != "11h59m" {
		t.Errorf("shortDuration = %q", got)
	}
}
