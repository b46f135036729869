package main

// OpenTelemetry setup: an SDK TracerProvider exporting with OTLP/gRPC.
//
// Only long-stable API is used here (nothing from the versioned semconv
// packages), so the same source builds against older SDK releases too; see
// README.md ("Other SDK versions").

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

const (
	defaultServiceName  = "otel-http-example"
	instrumentationName = "mdt-example/otel-http"
)

type telemetry struct {
	tracer       trace.Tracer
	serviceName  string
	exporterDesc string
	shutdown     func(context.Context) error
}

func sdkVersion() string { return "v" + sdk.Version() }

// setupTelemetry builds the TracerProvider from the standard environment:
//
//   - OTEL_TRACES_EXPORTER: "otlp" (default) or "none" (spans are still created,
//     with real trace and span ids, but not exported);
//   - OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
//     OTEL_EXPORTER_OTLP_INSECURE, _HEADERS, _TIMEOUT, ...: read by otlptracegrpc
//     itself. A bare "host:port" endpoint (which the exporter's own URL parsing
//     rejects) is accepted too, as https://host:port;
//   - OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES: the resource; the service
//     name defaults to "otel-http-example";
//   - OTEL_TRACES_SAMPLER, OTEL_BSP_*: read by the SDK itself.
//
// Export failures (no collector listening, ...) are reported on stderr, at
// most once every 10 s, and never affect the service.
func setupTelemetry(ctx context.Context) (*telemetry, error) {
	otel.SetErrorHandler(&throttledErrors{every: 10 * time.Second})
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", defaultServiceName)), // overridden by the environment
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
	)
	if err != nil {
		if res == nil || !errors.Is(err, resource.ErrPartialResource) {
			return nil, fmt.Errorf("resource: %w", err)
		}
		logf("resource: %v (continuing)", err)
	}
	serviceName := defaultServiceName
	if v, ok := res.Set().Value(attribute.Key("service.name")); ok {
		serviceName = v.AsString()
	}

	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	desc := "none"
	switch kind := strings.TrimSpace(strings.ToLower(os.Getenv("OTEL_TRACES_EXPORTER"))); kind {
	case "none":
	default:
		if kind != "" && kind != "otlp" {
			logf("OTEL_TRACES_EXPORTER=%q is not supported (only otlp and none); using otlp", kind)
		}
		endpoint := ""
		for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
			v := strings.TrimSpace(os.Getenv(name))
			if v == "" {
				continue
			}
			if !strings.Contains(v, "://") {
				// The exporter wants a URL; "host:port" would be rejected with a
				// log line and replaced by the default endpoint. As a URL, it is
				// secure unless OTEL_EXPORTER_OTLP_INSECURE=true, as without a scheme.
				os.Setenv(name, "https://"+v)
			}
			if endpoint == "" {
				endpoint = v
			}
		}
		// New does not connect: an unreachable endpoint only makes exports fail later.
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlptracegrpc: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
		if endpoint == "" {
			endpoint = "localhost:4317 (default)"
		}
		desc = "otlp grpc " + endpoint
		if v := strings.ToLower(firstEnv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE")); v == "true" {
			desc += " insecure"
		}
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return &telemetry{
		tracer:       tp.Tracer(instrumentationName, trace.WithInstrumentationVersion("0.1.0")),
		serviceName:  serviceName,
		exporterDesc: desc,
		shutdown:     tp.Shutdown,
	}, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(os.Getenv(n)); v != "" {
			return v
		}
	}
	return ""
}

// throttledErrors is the SDK's error handler: export errors repeat every
// batch while a collector is away, so print one line per period with a count.
type throttledErrors struct {
	every      time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (h *throttledErrors) Handle(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if !h.last.IsZero() && now.Sub(h.last) < h.every {
		h.suppressed++
		return
	}
	more := ""
	if h.suppressed > 0 {
		more = fmt.Sprintf(" (and %d more since the last report)", h.suppressed)
	}
	logf("opentelemetry: %v%s", err, more)
	h.last, h.suppressed = now, 0
}
