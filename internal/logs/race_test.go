//go:build race

package logs

// raceEnabled: the race detector slows appends several times, so the
// throughput floor is not asserted under it.
const raceEnabled = true
