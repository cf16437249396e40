package proxy

import (
	"testing"
	"time"
)

// BenchmarkRecord is the statistics' cost per request; compare it with the
// tens of microseconds of CPU a proxied request costs (bench/proxy).
func BenchmarkRecord(b *testing.B) {
	var s groupStats
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.record(200, time.Since(start)%(100*time.Millisecond))
		}
	})
}

// BenchmarkPick compares picking a target without weights (one scan) and
// with two weighted groups (a scan per group and a draw).
func BenchmarkPick(b *testing.B) {
	targets := []Target{{ID: "a", Addr: "a:1", Group: "stable"}, {ID: "b", Addr: "b:1", Group: "stable"},
		{ID: "c", Addr: "c:1", Group: "stable"}, {ID: "d", Addr: "d:1", Group: "canary"}}
	for _, tt := range []struct {
		name    string
		weights map[string]int
	}{{"unweighted", nil}, {"90-10", map[string]int{"stable": 90, "canary": 10}}} {
		b.Run(tt.name, func(b *testing.B) {
			p := New(Config{})
			p.Update(weighted("b", tt.weights, targets...))
			be := p.table.Load().any[0].backend
			now := time.Now().UnixNano()
			for b.Loop() {
				if be.pick(now, nil).t == nil {
					b.Fatal("no target")
				}
			}
		})
	}
}
