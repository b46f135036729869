package main

// Ground truth for the tests: with -ground-truth, every map delete the
// service's own code performs is also printed on stdout, as the program itself
// sees it:
//
//	{"event":"delete","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",
//	 "goid":35,"map":"0xc000072360","type":"map[string]*main.Session","key":"sess-1a2b3c4d5e6f7081",
//	 "func":"main.(*SessionStore).Logout","file":"/abs/path/examples/otel-http/store.go","line":57}
//
//   - trace_id, span_id: the span active in ctx when the delete happened (the
//     request's child span; for the order worker, the span that was active in
//     the handler when it started the worker); "" when there is none (janitor);
//   - goid: the goroutine id from the runtime.Stack header ("goroutine 35 [running]:");
//   - map: fmt's %p of the map; type: fmt's %T of the map;
//   - key: the key, strings as they are and integers in decimal;
//   - func, file, line: the function, file and line of the delete statement.
//
// Deletes done by libraries (net/http, gRPC, the SDK) are not part of it.
//
// Each response then carries X-Ground-Truth-Deletes: the number of delete lines
// printed for that request (worker included), all of them before the response
// was written, so a client knows when it has read every line of its request.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

var (
	groundTruth bool       // -ground-truth
	stdoutMu    sync.Mutex // one writer of stdout lines at a time
)

type deleteLine struct {
	Event   string `json:"event"`
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
	Goid    int64  `json:"goid"`
	Map     string `json:"map"`
	Type    string `json:"type"`
	Key     string `json:"key"`
	Func    string `json:"func"`
	File    string `json:"file"`
	Line    int    `json:"line"`
}

// rec records a delete that its caller has just done ON THE SAME SOURCE LINE:
//
//	delete(m, k); rec(ctx, m, k)
//
// The function, file and line of the call to rec are therefore those of the
// delete statement. (That is why store.go is not gofmt'd: gofmt would move
// rec to a line of its own.)
func rec(ctx context.Context, m any, k any) {
	if !groundTruth {
		return
	}
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:])
	fr, _ := runtime.CallersFrames(pcs[:]).Next()
	l := deleteLine{
		Event: "delete",
		Goid:  curGoid(),
		Map:   fmt.Sprintf("%p", m),
		Type:  fmt.Sprintf("%T", m),
		Key:   fmt.Sprint(k),
		Func:  fr.Function,
		File:  fr.File,
		Line:  fr.Line,
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		l.TraceID, l.SpanID = sc.TraceID().String(), sc.SpanID().String()
	}
	b, err := json.Marshal(l)
	if err != nil {
		fatalf("json: %v", err)
	}
	writeStdout(append(b, '\n'))
	if n, ok := ctx.Value(deleteCounterKey{}).(*atomic.Int64); ok {
		n.Add(1)
	}
}

type deleteCounterKey struct{}

// withDeleteCounter gives a request's context the counter rec increments.
func withDeleteCounter(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, deleteCounterKey{}, n), n
}

func writeStdout(b []byte) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	if _, err := os.Stdout.Write(b); err != nil {
		// The reader went away: nobody is checking anything any more.
		logf("stdout: %v", err)
	}
}

// curGoid is the id runtime.Stack prints in its "goroutine N [...]:" header.
func curGoid() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		if id, err := strconv.ParseInt(string(b[:i]), 10, 64); err == nil {
			return id
		}
	}
	fatalf("cannot parse the goroutine id from %q", buf[:n])
	return 0
}
