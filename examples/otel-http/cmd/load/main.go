// Command load sends a bounded, paced, mixed load to the otel-http example
// service on a loopback address and prints the trace id of every response.
//
//	load -addr 127.0.0.1:8080 [-n 200] [-rate 50] [-concurrency 4] [-max-duration 60s]
//	     [-mix login=1,logout=1,item=2,order=1] [-items 64] [-seed 1] [-summary-only]
//
// Standard output, one JSON object per line:
//
//	{"event":"request","seq":1,"kind":"order","method":"POST","path":"/order?id=1","status":200,
//	 "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","ms":2.1}
//	...
//	{"event":"summary","sent":200,"ok":196,"failed":0,"by_kind":{"item":80,...},"by_status":{"200":196,"404":4},
//	 "elapsed_ms":4012,"latency_ms":{"p50":1.2,"p90":2.3,"p99":4.1,"max":9.8}}
//
// latency_ms: percentiles of the time from sending a request to having read its response,
// over the requests that got one (absent when none did).
//
// A request that could not be sent at all has "status":0 and an "error". Logouts
// use sessions that earlier logins returned, or an unknown id when none is left
// (the service answers 404 but still runs its delete). The run is bounded: at
// most -n requests (at most 1,000,000) and at most -max-duration; the address
// must be a loopback one. Exit status 0 when every request got an HTTP
// response, 1 otherwise, 2 on bad arguments.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	flagAddr        = flag.String("addr", "", "the service's address, host:port (loopback only)")
	flagN           = flag.Int("n", 100, "number of requests (1..1000000)")
	flagRate        = flag.Float64("rate", 50, "requests per second (0: as fast as -concurrency allows)")
	flagConcurrency = flag.Int("concurrency", 4, "requests in flight at most (1..64)")
	flagMaxDuration = flag.Duration("max-duration", 60*time.Second, "stop sending after this long, even if fewer than -n were sent")
	flagMix         = flag.String("mix", "login=1,logout=1,item=2,order=1", "relative weights of the request kinds login, logout, item, order")
	flagItems       = flag.Uint64("items", 64, "/item ids are drawn from 0..items-1 (more than the service's -cache-size makes it evict)")
	flagSeed        = flag.Int64("seed", 1, "random seed for the mix and the ids")
	flagSummaryOnly = flag.Bool("summary-only", false, "print only the summary line")
	flagTimeout     = flag.Duration("timeout", 10*time.Second, "per-request timeout")
)

var kinds = []string{"login", "logout", "item", "order"}

type requestLine struct {
	Event   string  `json:"event"`
	Seq     int     `json:"seq"`
	Kind    string  `json:"kind"`
	Method  string  `json:"method"`
	Path    string  `json:"path"`
	Status  int     `json:"status"`
	TraceID string  `json:"trace_id"`
	SpanID  string  `json:"span_id"`
	Ms      float64 `json:"ms"`
	Error   string  `json:"error,omitempty"`
}

type summaryLine struct {
	Event     string         `json:"event"`
	Sent      int            `json:"sent"`
	OK        int            `json:"ok"`
	Failed    int            `json:"failed"`
	ByKind    map[string]int `json:"by_kind"`
	ByStatus  map[string]int `json:"by_status"`
	ElapsedMs int64          `json:"elapsed_ms"`
	Stopped   string         `json:"stopped,omitempty"`
	LatencyMs *latency       `json:"latency_ms,omitempty"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// percentiles of ms (sorted in place), nearest-rank; nil for none.
func percentiles(ms []float64) *latency {
	if len(ms) == 0 {
		return nil
	}
	sort.Float64s(ms)
	at := func(p float64) float64 {
		i := int(p*float64(len(ms))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		return ms[i]
	}
	return &latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms[len(ms)-1]}
}

func main() {
	flag.Parse()
	if err := checkArgs(); err != nil {
		fmt.Fprintf(os.Stderr, "load: %v\n", err)
		os.Exit(2)
	}
	weights, err := parseMix(*flagMix)
	if err != nil {
		fmt.Fprintf(os.Stderr, "load: -mix: %v\n", err)
		os.Exit(2)
	}

	rnd := rand.New(rand.NewSource(*flagSeed))
	base := "http://" + *flagAddr
	client := &http.Client{
		Timeout: *flagTimeout,
		Transport: &http.Transport{
			Proxy:               nil, // never through a proxy: loopback only
			MaxIdleConnsPerHost: *flagConcurrency,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}

	ctx, cancel := context.WithTimeout(context.Background(), *flagMaxDuration)
	defer cancel()

	type job struct {
		seq    int
		kind   string
		method string
		path   string
	}
	var (
		mu       sync.Mutex
		sessions []string // returned by logins, not yet logged out
		outMu    sync.Mutex
		sum      = summaryLine{Event: "summary", ByKind: map[string]int{}, ByStatus: map[string]int{}}
		times    []float64 // ms of each request that got a response
	)
	emit := func(v any) {
		b, _ := json.Marshal(v)
		outMu.Lock()
		os.Stdout.Write(append(b, '\n'))
		outMu.Unlock()
	}

	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < *flagConcurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if j.kind == "logout" {
					mu.Lock()
					if n := len(sessions); n > 0 {
						j.path = "/logout?session=" + sessions[n-1]
						sessions = sessions[:n-1]
					}
					mu.Unlock()
				}
				l := requestLine{Event: "request", Seq: j.seq, Kind: j.kind, Method: j.method, Path: j.path}
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, j.method, base+j.path, nil)
				resp, err := client.Do(req)
				if err == nil {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
					resp.Body.Close()
					l.Status = resp.StatusCode
					l.TraceID = resp.Header.Get("X-Trace-Id")
					l.SpanID = resp.Header.Get("X-Span-Id")
					if j.kind == "login" && resp.StatusCode == http.StatusOK {
						var r struct {
							Session string `json:"session"`
						}
						if json.Unmarshal(body, &r) == nil && r.Session != "" {
							mu.Lock()
							sessions = append(sessions, r.Session)
							mu.Unlock()
						}
					}
				} else {
					l.Error = err.Error()
				}
				l.Ms = float64(time.Since(t0).Microseconds()) / 1000
				outMu.Lock()
				sum.Sent++
				sum.ByKind[j.kind]++
				if l.Status == 0 {
					sum.Failed++
				} else {
					times = append(times, l.Ms)
					sum.ByStatus[strconv.Itoa(l.Status)]++
					if l.Status < 400 {
						sum.OK++
					}
				}
				outMu.Unlock()
				if !*flagSummaryOnly {
					emit(l)
				}
			}
		}()
	}

	start := time.Now()
	var interval time.Duration
	if *flagRate > 0 {
		interval = time.Duration(float64(time.Second) / *flagRate)
	}
	orderID := uint64(0)
	stopped := ""
feed:
	for i := 0; i < *flagN; i++ {
		if interval > 0 {
			wait := time.Until(start.Add(time.Duration(i) * interval))
			if wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					stopped = "max-duration"
					break feed
				}
			}
		}
		j := job{seq: i + 1, kind: pick(rnd, weights)}
		switch j.kind {
		case "login":
			j.method, j.path = http.MethodPost, fmt.Sprintf("/login?user=user%d", rnd.Intn(100))
		case "logout":
			j.method, j.path = http.MethodPost, fmt.Sprintf("/logout?session=sess-unknown-%d", i+1)
		case "item":
			j.method, j.path = http.MethodGet, fmt.Sprintf("/item?id=%d", uint64(rnd.Int63())%*flagItems)
		case "order":
			orderID++
			j.method, j.path = http.MethodPost, fmt.Sprintf("/order?id=%d", orderID)
		}
		select {
		case jobs <- j:
		case <-ctx.Done():
			stopped = "max-duration"
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	sum.ElapsedMs = time.Since(start).Milliseconds()
	sum.Stopped = stopped
	sum.LatencyMs = percentiles(times)
	emit(sum)
	if sum.Failed > 0 {
		os.Exit(1)
	}
}

func checkArgs() error {
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if *flagAddr == "" {
		return fmt.Errorf("-addr is required")
	}
	host, port, err := net.SplitHostPort(*flagAddr)
	if err != nil {
		return fmt.Errorf("-addr: %v", err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("-addr: bad port %q", port)
	}
	if !isLoopback(host) {
		return fmt.Errorf("-addr: %q is not a loopback address (127.0.0.0/8, ::1 or localhost)", host)
	}
	if *flagN < 1 || *flagN > 1000000 {
		return fmt.Errorf("-n must be in 1..1000000")
	}
	if *flagRate < 0 {
		return fmt.Errorf("-rate must not be negative")
	}
	if *flagConcurrency < 1 || *flagConcurrency > 64 {
		return fmt.Errorf("-concurrency must be in 1..64")
	}
	if *flagMaxDuration <= 0 || *flagMaxDuration > 24*time.Hour {
		return fmt.Errorf("-max-duration must be in (0, 24h]")
	}
	if *flagItems < 1 {
		return fmt.Errorf("-items must be at least 1")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return false
		}
		for _, ip := range ips {
			if !ip.IsLoopback() {
				return false
			}
		}
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type weight struct {
	kind string
	w    int
}

func parseMix(s string) ([]weight, error) {
	seen := map[string]bool{}
	var ws []weight
	total := 0
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			v = "1"
		}
		k = strings.TrimSpace(k)
		if !contains(kinds, k) {
			return nil, fmt.Errorf("unknown kind %q (known: %s)", k, strings.Join(kinds, ", "))
		}
		if seen[k] {
			return nil, fmt.Errorf("%q given twice", k)
		}
		seen[k] = true
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad weight %q for %s", v, k)
		}
		if n > 0 {
			ws = append(ws, weight{k, n})
			total += n
		}
	}
	if total == 0 {
		return nil, fmt.Errorf("no kind has a positive weight")
	}
	sort.SliceStable(ws, func(i, j int) bool { return indexOf(kinds, ws[i].kind) < indexOf(kinds, ws[j].kind) })
	return ws, nil
}

func pick(rnd *rand.Rand, ws []weight) string {
	total := 0
	for _, w := range ws {
		total += w.w
	}
	n := rnd.Intn(total)
	for _, w := range ws {
		if n < w.w {
			return w.kind
		}
		n -= w.w
	}
	return ws[len(ws)-1].kind
}

func contains(xs []string, s string) bool { return indexOf(xs, s) >= 0 }

func indexOf(xs []string, s string) int {
	for i, x := range xs {
		if x == s {
			return i
		}
	}
	return -1
}
