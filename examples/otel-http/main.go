// Command otel-http-example is the target service of map-delete-tracer's trace
// correlation work (issue 4): an HTTP service instrumented with the
// OpenTelemetry Go SDK whose handlers delete from Go maps while one of the
// SDK's spans is active.
//
//	POST /login?user=U       creates a session in map[string]*main.Session
//	POST /logout?session=S   deletes it (request goroutine, span "session.delete")
//	GET  /item?id=N          LRU cache map[uint64]*main.Entry, evicts when full (span "cache.get")
//	POST /order?id=N         a worker goroutine per request deletes the order's
//	                         reservations from a map[string]int (span "order.process",
//	                         inherited by the worker; the handler waits for it and
//	                         then deletes the order from its in-flight map[string]int)
//	GET  /healthz            no span, no delete
//
// A janitor goroutine, started before any request, expires sessions every
// -janitor-interval: those deletes happen with no active span.
//
// Every response carries the request's trace id in X-Trace-Id (and the server
// span's id in X-Span-Id); with -ground-truth also X-Ground-Truth-Deletes, the
// number of delete lines printed for the request.
//
// Standard output is a protocol, one JSON object per line:
//
//	{"event":"listening","addr":"127.0.0.1:PORT","pid":N}
//	{"event":"delete",...}        one per map delete, only with -ground-truth (see groundtruth.go)
//	{"event":"stopped"}           after a SIGTERM/SIGINT shutdown, once the SDK is flushed
//
// Diagnostics go to standard error. See README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

var (
	flagAddr            = flag.String("addr", "127.0.0.1:8080", "listen address (host:port; port 0 picks a free port)")
	flagGroundTruth     = flag.Bool("ground-truth", false, "print one JSON line per map delete on stdout")
	flagSessionTTL      = flag.Duration("session-ttl", 30*time.Second, "sessions expire (janitor deletes them) this long after login")
	flagJanitorInterval = flag.Duration("janitor-interval", time.Second, "how often the janitor looks for expired sessions")
	flagCacheSize       = flag.Int("cache-size", 16, "entries the /item LRU cache holds before it evicts")
	flagWork            = flag.Duration("work", time.Millisecond, "simulated work: per /item cache miss and per reservation the /order worker settles")
	flagShutdownTimeout = flag.Duration("shutdown-timeout", 5*time.Second, "on SIGTERM/SIGINT: time allowed to drain requests, then again to flush the SDK")
)

func main() {
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments %q", flag.Args())
	}
	if *flagCacheSize < 1 {
		fatalf("-cache-size must be at least 1")
	}
	if *flagJanitorInterval <= 0 || *flagSessionTTL <= 0 {
		fatalf("-janitor-interval and -session-ttl must be positive")
	}
	groundTruth = *flagGroundTruth

	tel, err := setupTelemetry(context.Background())
	if err != nil {
		fatalf("telemetry: %v", err)
	}

	app := newApp(tel.tracer, *flagCacheSize, *flagSessionTTL)
	janitorCtx, stopJanitor := context.WithCancel(context.Background())
	janitorDone := make(chan struct{})
	go func() { defer close(janitorDone); app.sessions.janitor(janitorCtx, *flagJanitorInterval) }()

	ln, err := net.Listen("tcp", *flagAddr)
	if err != nil {
		fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: app.routes(), ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	logf("service %q, OpenTelemetry SDK %s, %s, exporter %s, pid %d, listening on %s",
		tel.serviceName, sdkVersion(), runtime.Version(), tel.exporterDesc, os.Getpid(), ln.Addr())
	emitLine(listeningLine{Event: "listening", Addr: ln.Addr().String(), Pid: os.Getpid()})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	exitCode := 0
	select {
	case s := <-sigs:
		logf("%v: shutting down", s)
	case err := <-serveErr:
		logf("serve: %v", err)
		exitCode = 1
	}
	signal.Stop(sigs)

	ctx, cancel := context.WithTimeout(context.Background(), *flagShutdownTimeout)
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logf("http shutdown: %v", err)
	}
	cancel()
	stopJanitor()
	<-janitorDone

	ctx, cancel = context.WithTimeout(context.Background(), *flagShutdownTimeout)
	if err := tel.shutdown(ctx); err != nil {
		// An unreachable collector must not turn a clean stop into a failure.
		logf("SDK shutdown: %v", err)
	} else {
		logf("SDK shut down: spans flushed (export errors, if any, are reported above)")
	}
	cancel()
	emitLine(stoppedLine{Event: "stopped"})
	os.Exit(exitCode)
}

type listeningLine struct {
	Event string `json:"event"`
	Addr  string `json:"addr"`
	Pid   int    `json:"pid"`
}

type stoppedLine struct {
	Event string `json:"event"`
}

// emitLine writes v as one JSON line on stdout (serialised with the delete lines).
func emitLine(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fatalf("json: %v", err)
	}
	writeStdout(append(b, '\n'))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "otel-http-example: "+format+"\n", args...)
}

func fatalf(format string, args ...any) {
	logf("ERROR: "+format, args...)
	os.Exit(1)
}
