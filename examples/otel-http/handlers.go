package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

type App struct {
	tracer   trace.Tracer
	sessions *SessionStore
	cache    *Cache
	orders   *Orders
}

func newApp(tracer trace.Tracer, cacheSize int, sessionTTL time.Duration) *App {
	return &App{
		tracer:   tracer,
		sessions: newSessionStore(sessionTTL),
		cache:    newCache(cacheSize),
		orders:   newOrders(),
	}
}

func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/login", a.traced("/login", http.MethodPost, a.login))
	mux.Handle("/logout", a.traced("/logout", http.MethodPost, a.logout))
	mux.Handle("/item", a.traced("/item", http.MethodGet, a.item))
	mux.Handle("/order", a.traced("/order", http.MethodPost, a.order))
	mux.Handle("/healthz", a.traced("/healthz", http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"ok": true})
	}))
	mux.Handle("/", a.traced("/", "", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusNotFound, map[string]any{"error": "no such endpoint"})
	}))
	return mux
}

// traced wraps a handler in the request's server span (continuing a W3C
// traceparent when the request has one), puts its ids in the X-Trace-Id and
// X-Span-Id response headers and checks the method (method "" allows any).
func (a *App) traced(route, method string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := a.tracer.Start(ctx, r.Method+" "+route,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("http.route", route),
				attribute.String("url.path", r.URL.Path),
				attribute.String("url.query", r.URL.RawQuery),
			))
		defer span.End()
		sc := span.SpanContext()
		w.Header().Set("X-Trace-Id", sc.TraceID().String())
		w.Header().Set("X-Span-Id", sc.SpanID().String())
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if groundTruth {
			ctx, sw.deletes = withDeleteCounter(ctx)
		}
		if method != "" && r.Method != method {
			w.Header().Set("Allow", method)
			reply(sw, http.StatusMethodNotAllowed, map[string]any{"error": "use " + method})
		} else {
			h(sw, r.WithContext(ctx))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

// POST /login?user=U: a new session. No delete.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" {
		reply(w, http.StatusBadRequest, map[string]any{"error": "user= is required"})
		return
	}
	_, span := a.tracer.Start(r.Context(), "session.create", trace.WithAttributes(attribute.String("enduser.id", user)))
	s := a.sessions.Login(user)
	span.SetAttributes(attribute.String("session.id", s.ID))
	span.End()
	reply(w, http.StatusOK, map[string]any{"session": s.ID, "user": s.User, "expires": s.Expires.UTC().Format(time.RFC3339Nano)})
}

// POST /logout?session=S: deletes the session in the request's goroutine.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("session")
	if id == "" {
		reply(w, http.StatusBadRequest, map[string]any{"error": "session= is required"})
		return
	}
	ctx, span := a.tracer.Start(r.Context(), "session.delete", trace.WithAttributes(attribute.String("session.id", id)))
	existed := a.sessions.Logout(ctx, id)
	span.SetAttributes(attribute.Bool("session.existed", existed))
	span.End()
	if !existed {
		reply(w, http.StatusNotFound, map[string]any{"session": id, "deleted": false})
		return
	}
	reply(w, http.StatusOK, map[string]any{"session": id, "deleted": true})
}

// GET /item?id=N: through the LRU cache; a miss on a full cache evicts.
func (a *App) item(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": "id= must be an unsigned integer"})
		return
	}
	ctx, span := a.tracer.Start(r.Context(), "cache.get", trace.WithAttributes(attribute.Int64("item.id", int64(id))))
	v, hit := a.cache.Get(ctx, id, loadItem)
	span.SetAttributes(attribute.Bool("cache.hit", hit))
	span.End()
	reply(w, http.StatusOK, map[string]any{"id": id, "value": v, "hit": hit})
}

func loadItem(id uint64) string {
	if *flagWork > 0 {
		time.Sleep(*flagWork)
	}
	return fmt.Sprintf("item-%d", id)
}

// POST /order?id=N: reserves stock, then a worker goroutine of its own,
// started while the "order.process" span is active and given its context,
// settles (deletes) the reservations; the handler waits for it, then deletes
// the order from the in-flight table in its own goroutine.
func (a *App) order(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
	if err != nil {
		reply(w, http.StatusBadRequest, map[string]any{"error": "id= must be an unsigned integer"})
		return
	}
	order := "order-" + strconv.FormatUint(id, 10)
	ctx, span := a.tracer.Start(r.Context(), "order.process", trace.WithAttributes(attribute.String("order.id", order)))
	keys := a.orders.Reserve(order, id)
	done := make(chan int, 1)
	go a.orders.settle(ctx, keys, *flagWork, done)
	settled := <-done
	a.orders.Finish(ctx, order)
	span.SetAttributes(attribute.Int("order.reservations", settled))
	span.End()
	reply(w, http.StatusOK, map[string]any{"order": order, "settled": settled, "reservations": strings.Join(keys, ",")})
}

func reply(w http.ResponseWriter, status int, body any) {
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// statusWriter remembers the status and, with -ground-truth, adds the
// request's delete count as X-Ground-Truth-Deletes when the header goes out.
type statusWriter struct {
	http.ResponseWriter
	status      int
	deletes     *atomic.Int64
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.wroteHeader {
		return
	}
	s.wroteHeader = true
	s.status = code
	if s.deletes != nil {
		s.Header().Set("X-Ground-Truth-Deletes", strconv.FormatInt(s.deletes.Load(), 10))
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return s.ResponseWriter.Write(b)
}
