package logs

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// agentBatches builds the load bench/observability measures: 50 instances
// (10 services × 5), each appending batches of 100 lines, a third of them
// JSON.
func agentBatches(instances, batches, per int) [][][]Line {
	out := make([][][]Line, instances)
	for i := range out {
		svc := fmt.Sprint("svc", i%10)
		inst := fmt.Sprintf("%s-%d", svc, i/10)
		for b := range batches {
			batch := make([]Line, per)
			for j := range batch {
				n := b*per + j
				text := fmt.Sprintf("2025-03-01T12:00:00Z GET /api/items/%d 200 %dms user=%d trace=%016x", n, n%97, n%1000, n*7919)
				if n%3 == 0 {
					text = fmt.Sprintf(`{"level":"info","msg":"request served","method":"GET","path":"/api/items/%d","status":200,"duration_ms":%d.5}`, n, n%97)
				}
				batch[j] = Line{Time: t0.Add(time.Duration(n) * time.Millisecond), Env: "prod", App: "shop", Service: svc, Instance: inst, Stream: "stdout", Text: text}
			}
			out[i] = append(out[i], batch)
		}
	}
	return out
}

// TestAppendThroughput asserts the floor, 50,000 lines/s, with
// per-instance batches from 50 concurrent appenders. The store does about
// ten times that on two cores, so the floor is a generous margin.
func TestAppendThroughput(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("throughput is not meaningful under -race or -short")
	}
	const instances, batches, per = 50, 60, 100
	load := agentBatches(instances, batches, per)
	s := open(t, Options{})
	start := time.Now()
	var wg sync.WaitGroup
	for _, inst := range load {
		wg.Go(func() {
			for _, b := range inst {
				if err := s.Append(b...); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	rate := float64(instances*batches*per) / d.Seconds()
	t.Logf("%d lines in %v: %.0f lines/s", instances*batches*per, d, rate)
	if rate < 50_000 {
		t.Fatalf("append throughput %.0f lines/s < 50,000", rate)
	}
}

func BenchmarkAppend(b *testing.B) {
	load := agentBatches(1, 1, 100)[0][0]
	s, err := Open(Options{Dir: b.TempDir(), Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Append(load...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(load))/b.Elapsed().Seconds(), "lines/s")
}
