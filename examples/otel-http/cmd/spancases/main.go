// Command spancases exercises the corner cases of span tracking (docs/correlation.md, "Which span
// is active") and prints, for every map delete it makes, the span the tracer must report:
//
//	{"event":"delete","case":"nested","key":"nested-2","goid":1,"trace_id":"…","span_id":"…"}
//
// with "" ids where no span may be reported. It prints {"event":"ready","pid":N}, waits for a
// line on stdin (the tracer attaches meanwhile), runs every case once and exits.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

type keep struct{}

func (keep) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (keep) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (keep) Shutdown(context.Context) error                  { return nil }
func (keep) ForceFlush(context.Context) error                { return nil }

// recordOnly records spans named "record-only" without sampling them; everything else is sampled.
type recordOnly struct{}

func (recordOnly) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	d := sdktrace.RecordAndSample
	if p.Name == "record-only" {
		d = sdktrace.RecordOnly
	}
	return sdktrace.SamplingResult{Decision: d, Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState()}
}
func (recordOnly) Description() string { return "recordOnly" }

var (
	mu  sync.Mutex
	m   = map[string]int{}
	out = json.NewEncoder(os.Stdout)
	tr  trace.Tracer
)

func goid() int {
	b := make([]byte, 64)
	b = b[:runtime.Stack(b, false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	n, _ := strconv.Atoi(string(b[:bytes.IndexByte(b, ' ')]))
	return n
}

// del deletes key and prints the span the tracer must report for it (nil: none).
func del(c, key string, want trace.Span) {
	mu.Lock()
	m[key] = 1
	delete(m, key)
	mu.Unlock()
	tid, sid := "", ""
	if want != nil {
		tid, sid = want.SpanContext().TraceID().String(), want.SpanContext().SpanID().String()
	}
	_ = out.Encode(map[string]any{"event": "delete", "case": c, "key": key, "goid": goid(), "trace_id": tid, "span_id": sid})
}

func main() {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(recordOnly{}), sdktrace.WithSpanProcessor(keep{}))
	tr = tp.Tracer("spancases")
	bg := context.Background()
	_ = out.Encode(map[string]any{"event": "ready", "pid": os.Getpid()})
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')

	// No span at all.
	del("none", "none-1", nil)

	// Nested spans: the innermost open one; ending it uncovers the outer one.
	ctx, outer := tr.Start(bg, "outer")
	del("nested", "nested-1", outer)
	_, inner := tr.Start(ctx, "inner")
	del("nested", "nested-2", inner)
	inner.End()
	del("nested", "nested-3", outer)
	outer.End()
	del("nested", "nested-4", nil)

	// A span ended on another goroutine than the one that started it.
	_, s := tr.Start(bg, "ended-elsewhere")
	del("ended-elsewhere", "ended-elsewhere-1", s)
	done := make(chan struct{})
	go func() { s.End(); close(done) }()
	<-done
	del("ended-elsewhere", "ended-elsewhere-2", nil)

	// Workers inherit the spans open when they were created, grandchildren too.
	_, req := tr.Start(bg, "request")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		del("inherit", "inherit-child", req)
		var wg2 sync.WaitGroup
		wg2.Add(1)
		go func() { defer wg2.Done(); del("inherit", "inherit-grandchild", req) }()
		wg2.Wait()
	}()
	wg.Wait()
	// A worker that outlives the span: after End its deletes belong to no span.
	first, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		del("outlives", "outlives-1", req)
		close(first)
		<-release
		del("outlives", "outlives-2", nil)
		close(finished)
	}()
	<-first
	req.End()
	close(release)
	<-finished

	// A worker's own span wins over the inherited one; ending it uncovers the inherited one.
	ctx, parent := tr.Start(bg, "parent")
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, own := tr.Start(ctx, "worker-own")
		del("own-over-inherited", "own-1", own)
		own.End()
		del("own-over-inherited", "own-2", parent)
	}()
	wg.Wait()
	parent.End()

	// Nine nested spans: the tracer keeps eight; the outermost is forgotten, never misattributed.
	spans := make([]trace.Span, 9)
	c := bg
	for i := range spans {
		c, spans[i] = tr.Start(c, fmt.Sprintf("depth-%d", i))
	}
	del("overflow", "overflow-1", spans[8])
	for i := 8; i >= 1; i-- {
		spans[i].End()
	}
	del("overflow", "overflow-2", nil)
	spans[0].End()

	// Recorded but not sampled: watch still reports it.
	_, ro := tr.Start(bg, "record-only")
	del("record-only", "record-only-1", ro)
	ro.End()

	_ = tp.Shutdown(bg)
}
