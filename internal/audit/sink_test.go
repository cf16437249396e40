package audit

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver collects what a sink delivered, in arrival order.
type receiver struct {
	mu    sync.Mutex
	lines []string
}

func (r *receiver) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, s)
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

// waitDelivered polls until want records arrived or 20 s passed.
func (r *receiver) waitDelivered(t *testing.T, want int) []string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if got := r.got(); len(got) >= want {
			return got
		}
	}
	t.Fatalf("the receiver has %d records, want %d", len(r.got()), want)
	return nil
}

func openWithSinks(t *testing.T, queue int, sinks ...Sink) *Log {
	t.Helper()
	l, err := OpenWith(filepath.Join(t.TempDir(), "audit.log"), Options{Key: testKey, Sinks: sinks, SinkQueue: queue, SinkDrain: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// sameAsFile checks that got holds exactly the file's lines, in order.
func sameAsFile(t *testing.T, l *Log, got []string) {
	t.Helper()
	file := readLines(t, l.Path())
	file[len(file)-1] += "\n" // readLines leaves the last line without one
	if len(got) != len(file) {
		t.Fatalf("received %d records, the file has %d", len(got), len(file))
	}
	for i := range file {
		if got[i]+"\n" != file[i] {
			t.Fatalf("record %d: received\n%s\nfile has\n%s", i+1, got[i], file[i])
		}
	}
}

// TestWebhookSinkGetsEveryRecordInOrder, through a receiver that refuses
// the first attempts: retried, nothing lost, nothing reordered.
func TestWebhookSinkGetsEveryRecordInOrder(t *testing.T) {
	var rcv receiver
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n <= 3 { // a receiver restarting
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var rec Record
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &rec) != nil ||
			r.Header.Get("X-Haven-Audit-Seq") != strconv.FormatUint(rec.Seq, 10) {
			t.Errorf("bad delivery: %s %s %q", r.Method, r.Header, b)
		}
		rcv.add(string(b))
	}))
	defer srv.Close()
	sink, err := ParseSink(srv.URL + "/audit?token=secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sink.Name(), "secret") {
		t.Errorf("the sink's name shows its credentials: %s", sink.Name())
	}
	l := openWithSinks(t, 0, sink)
	appendN(t, l, 50)
	got := rcv.waitDelivered(t, 50)
	sameAsFile(t, l, got)
	st := l.SinkStats()[0]
	if st.Delivered != 50 || st.Failures != 3 || st.Dropped != 0 {
		t.Errorf("stats = %+v, want 50 delivered after 3 failures", st)
	}
}

// TestDeadSinkNeitherBlocksNorLosesTheLocalRecord: a webhook that never
// answers and one nobody listens on leave Append as fast as without
// sinks, the local file complete, the overflow counted, and Close bounded.
func TestDeadSinkNeitherBlocksNorLosesTheLocalRecord(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	gone.Close()

	hung, _ := NewWebhookSink(srv.URL)
	refused, _ := NewSyslogSink("tcp://" + goneAddr)
	const queue, n = 10, 200
	l := openWithSinks(t, queue, hung, refused)
	ref := openWithSinks(t, queue)
	timeAppends := func(l *Log) time.Duration {
		start := time.Now()
		appendN(t, l, n)
		return time.Since(start)
	}
	without := timeAppends(ref)
	with := timeAppends(l)
	t.Logf("%d appends: %s without sinks, %s with two dead ones", n, without, with)
	if with > 3*without+time.Second {
		t.Errorf("dead sinks slowed appends: %s against %s without", with, without)
	}
	if rep, err := l.Verify(); err != nil || !rep.OK || rep.Records != n {
		t.Fatalf("local trail = %+v, %v; want all %d records", rep, err, n)
	}
	for _, st := range l.SinkStats() {
		// One in flight, queue waiting, the rest dropped.
		if st.Delivered != 0 || st.Dropped < n-queue-1 {
			t.Errorf("%s: %+v, want the overflow counted as dropped", st.Name, st)
		}
	}
	start := time.Now()
	l.Close()
	if took := time.Since(start); took > 5*time.Second { // drain 300 ms, then cancel
		t.Errorf("Close took %s with dead sinks", took)
	}
	for _, st := range l.SinkStats() {
		if st.Dropped != n || st.Queued != 0 {
			t.Errorf("after Close %s: %+v, want all %d counted as dropped", st.Name, st, n)
		}
	}
}

// TestSyslogSinks: a real TCP listener reading RFC 6587 octet-counted
// frames and a UDP one get every record as an RFC 5424 message, in order;
// the TCP sink redials after its receiver drops the connection.
func TestSyslogSinks(t *testing.T) {
	var tcpRcv, udpRcv receiver
	dropped := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for first := true; ; first = false {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn, dropEarly bool) {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					if dropEarly && i == 5 {
						c.Close()
						close(dropped)
						return // the receiver restarts: the sender must redial
					}
					size, err := br.ReadString(' ')
					if err != nil {
						return
					}
					n, err := strconv.Atoi(strings.TrimSuffix(size, " "))
					if err != nil {
						t.Errorf("bad frame length %q", size)
						return
					}
					msg := make([]byte, n)
					if _, err := io.ReadFull(br, msg); err != nil {
						return
					}
					tcpRcv.add(string(msg))
				}
			}(c, first)
		}
	}()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			udpRcv.add(string(buf[:n]))
		}
	}()
	tcpSink, err := ParseSink("tcp://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	udpSink, err := ParseSink("udp://" + pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	l := openWithSinks(t, 0, tcpSink, udpSink)
	for i := range 20 {
		appendN(t, l, 1)
		if i == 4 {
			// Once the receiver drops the first connection, wait for the
			// sink to notice, as it does long before the next record in
			// practice; a record written in between would be lost (see
			// NewSyslogSink).
			<-dropped
			ss := tcpSink.(*syslogSink)
			waitFor(t, func() bool {
				ss.mu.Lock()
				defer ss.mu.Unlock()
				select {
				case <-ss.dead:
					return true
				default:
					return false
				}
			})
		}
	}
	for _, rcv := range []*receiver{&tcpRcv, &udpRcv} {
		got := rcv.waitDelivered(t, 20)
		var lines []string
		seen := map[uint64]bool{}
		for _, m := range got {
			// <109>1 TIMESTAMP HOST haven - audit - JSON
			parts := strings.SplitN(m, " ", 8)
			if len(parts) != 8 || parts[0] != "<109>1" || parts[3] != "haven" || parts[4] != "-" || parts[5] != "audit" || parts[6] != "-" {
				t.Fatalf("not an RFC 5424 message as documented: %q", m)
			}
			if _, err := time.Parse(time.RFC3339Nano, parts[1]); err != nil {
				t.Errorf("timestamp %q: %v", parts[1], err)
			}
			var r Record
			if err := json.Unmarshal([]byte(parts[7]), &r); err != nil {
				t.Fatal(err)
			}
			if !seen[r.Seq] { // a retried record may arrive twice
				seen[r.Seq] = true
				lines = append(lines, parts[7])
			}
		}
		sameAsFile(t, l, lines)
	}
}

func TestParseSinkRefusesNonsense(t *testing.T) {
	for spec, want := range map[string]string{
		"siem.example.com":              "want an https:// URL",
		"ftp://x.example.com/":          `unknown scheme "ftp"`,
		"tcp://logs.example.com":        "want tcp://HOST:PORT",
		"https://u:pw@x.example.com/?k": "", // valid, and its name has no credentials
	} {
		s, err := ParseSink(spec)
		if want == "" {
			if err != nil || strings.Contains(s.Name(), "pw") {
				t.Errorf("ParseSink(%q) = %v, %v", spec, s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSink(%q) = %v, want %q", spec, err, want)
		}
	}
}
