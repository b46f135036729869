// Command spanbench measures what the tracer's span tracking costs the traced program: map
// deletes inside and outside an OpenTelemetry SDK span, span start+end, and goroutine creation
// inside and outside a span. bench/span-tracking.sh runs it without the tracer, with the tracer
// but span tracking off, and with span tracking on, side by side.
//
// It prints {"event":"ready","pid":N} and waits for a line on stdin (the tracer attaches
// meanwhile), then prints one JSON line per measurement: {"case":…,"ns_per_op":…}.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"os"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// keep is a span processor that does nothing: the SDK records spans only when one is registered.
type keep struct{}

func (keep) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (keep) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (keep) Shutdown(context.Context) error                  { return nil }
func (keep) ForceFlush(context.Context) error                { return nil }

var sink map[int64]int64

var pause = flag.Duration("pause", 2*time.Second, "idle time before each case")

//go:noinline
func deleteLoop(n int) {
	m := make(map[int64]int64, 64)
	for i := 0; i < n; i++ {
		k := int64(i & 63)
		m[k] = k
		delete(m, k)
	}
	sink = m
}

//go:noinline
func spanLoop(tr trace.Tracer, n int) {
	ctx := context.Background()
	for i := 0; i < n; i++ {
		_, s := tr.Start(ctx, "op")
		s.End()
	}
}

//go:noinline
func goLoop(n int) {
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go wg.Done()
		wg.Wait()
	}
}

func measure(name string, n int, f func()) {
	// Let the tracer drain the previous case's events first: on two cores its work competes
	// with ours, and each case should pay only for its own probes.
	time.Sleep(*pause)
	t0 := time.Now()
	f()
	ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"case": name, "n": n, "ns_per_op": ns})
}

func main() {
	n := flag.Int("n", 200000, "iterations per case")
	flag.Parse()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(keep{}))
	tr := tp.Tracer("spanbench")

	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"event": "ready", "pid": os.Getpid()})
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')

	deleteLoop(1000) // warm up
	measure("delete, no span", *n, func() { deleteLoop(*n) })
	_, span := tr.Start(context.Background(), "outer")
	measure("delete, inside a span", *n, func() { deleteLoop(*n) })
	span.End()
	measure("span start+end", *n, func() { spanLoop(tr, *n) })
	measure("go statement, no span", *n, func() { goLoop(*n) })
	_, span = tr.Start(context.Background(), "outer")
	measure("go statement, inside a span", *n, func() { goLoop(*n) })
	span.End()
	_ = tp.Shutdown(context.Background())
}
