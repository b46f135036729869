/**
 * Broken configurations: each must fail with one line that starts `FILE:LINE:COL: KEY.PATH:`
 * pointing at the mistake, and says what is wrong and how to fix it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfigFile } from '../../receiver/config/load';
import { UserError } from '../../receiver/util/errors';
import { loadError } from './config-helpers';

interface Case {
  name: string;
  text: string;
  env?: NodeJS.ProcessEnv;
  /** The exact start of the message. */
  prefix: string;
  /** The rest must match this. */
  rest: RegExp;
}

const RECV = 'receivers:\n  mapdelete:\n';
const TAIL = 'exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: [debug]\n';

const cases: Case[] = [
  // --- receivers.mapdelete ----------------------------------------------------------------------
  {
    name: 'unknown key, with the close one suggested',
    text: RECV + '    capture_key: true\n' + TAIL,
    prefix: 'tracer.yaml:3:5: receivers.mapdelete.capture_key: ',
    rest: /^unknown key "capture_key" \(did you mean "capture_keys"\?\)$/,
  },
  {
    name: 'unknown key, nothing close: the known keys are listed',
    text: RECV + '    frobnicate: 1\n' + TAIL,
    prefix: 'tracer.yaml:3:5: receivers.mapdelete.frobnicate: ',
    rest: /^unknown key "frobnicate" \(expected one of: targets, capture_keys, redact_keys, stack_depth, sampling, /,
  },
  {
    name: 'camelCase key',
    text: RECV + '    stackDepth: 8\n' + TAIL,
    prefix: 'tracer.yaml:3:5: receivers.mapdelete.stackDepth: ',
    rest: /did you mean "stack_depth"\?/,
  },
  {
    name: 'a target key outside targets:',
    text: RECV + '    pids: [1]\n' + TAIL,
    prefix: 'tracer.yaml:3:5: receivers.mapdelete.pids: ',
    rest: /^unknown key "pids" \(put it under targets:\)$/,
  },
  {
    name: 'sampling rate that is not a number',
    text: RECV + '    sampling:\n      rate: lots\n' + TAIL,
    prefix: 'tracer.yaml:4:13: receivers.mapdelete.sampling.rate: ',
    rest: /^expected a number in \(0, 1\], got "lots"$/,
  },
  {
    name: 'sampling rate 0',
    text: RECV + '    sampling:\n      rate: 0\n' + TAIL,
    prefix: 'tracer.yaml:4:13: receivers.mapdelete.sampling.rate: ',
    rest: /^expected a number in \(0, 1\], got 0$/,
  },
  {
    name: 'sampling rate above 1',
    text: RECV + '    sampling:\n      rate: 1.5\n' + TAIL,
    prefix: 'tracer.yaml:4:13: receivers.mapdelete.sampling.rate: ',
    rest: /got 1\.5$/,
  },
  {
    name: 'sampling rate as a quoted string',
    text: RECV + '    sampling: { rate: "0.5" }\n' + TAIL,
    prefix: 'tracer.yaml:3:23: receivers.mapdelete.sampling.rate: ',
    rest: /got "0\.5" \(remove the quotes\)$/,
  },
  {
    name: 'sampling rate left empty',
    text: RECV + '    sampling:\n      rate:\n' + TAIL,
    prefix: 'tracer.yaml:4:7: receivers.mapdelete.sampling.rate: ',
    rest: /got nothing$/,
  },
  {
    name: 'stack depth out of range',
    text: RECV + '    stack_depth: 33\n' + TAIL,
    prefix: 'tracer.yaml:3:18: receivers.mapdelete.stack_depth: ',
    rest: /^expected an integer from 1 to 32, got 33$/,
  },
  {
    name: 'stack depth not an integer',
    text: RECV + '    stack_depth: 2.5\n' + TAIL,
    prefix: 'tracer.yaml:3:18: receivers.mapdelete.stack_depth: ',
    rest: /got 2\.5$/,
  },
  {
    name: 'capture_keys not a boolean',
    text: RECV + '    capture_keys: yes\n' + TAIL,
    prefix: 'tracer.yaml:3:19: receivers.mapdelete.capture_keys: ',
    rest: /^expected true or false, got "yes"$/,
  },
  {
    name: 'ring buffer size not a power of two',
    text: RECV + '    ring_buffer_bytes: 10000\n' + TAIL,
    prefix: 'tracer.yaml:3:24: receivers.mapdelete.ring_buffer_bytes: ',
    rest: /^expected a power of two from 4096 to 1073741824 .*got 10000 \(try 8192 or 16384\)$/,
  },
  {
    name: 'ring buffer too small',
    text: RECV + '    ring_buffer_bytes: 2048\n' + TAIL,
    prefix: 'tracer.yaml:3:24: receivers.mapdelete.ring_buffer_bytes: ',
    rest: /got 2048$/,
  },
  {
    name: 'max_events_per_second 0',
    text: RECV + '    max_events_per_second: 0\n' + TAIL,
    prefix: 'tracer.yaml:3:28: receivers.mapdelete.max_events_per_second: ',
    rest: /^expected an integer from 1 to 100000000, got 0$/,
  },
  {
    name: 'duration without a unit',
    text: RECV + '    grouping_window: 10\n' + TAIL,
    prefix: 'tracer.yaml:3:22: receivers.mapdelete.grouping_window: ',
    rest: /got 10 \(add a unit: 10s or 10ms\)$/,
  },
  {
    name: 'unknown span inheritance mode',
    text: RECV + '    spans: { inheritance: lazy }\n' + TAIL,
    prefix: 'tracer.yaml:3:27: receivers.mapdelete.spans.inheritance: ',
    rest: /^expected one of creation, return, off, got "lazy"$/,
  },
  {
    name: 'duration that is not Go syntax',
    text: RECV + '    grouping_window: 1 sec\n' + TAIL,
    prefix: 'tracer.yaml:3:22: receivers.mapdelete.grouping_window: ',
    rest: /like "500ms", "10s" or "1m30s", got "1 sec" \(units are ns, us, ms, s, m, h\)$/,
  },
  {
    name: 'grouping window 0s',
    text: RECV + '    grouping_window: 0s\n' + TAIL,
    prefix: 'tracer.yaml:3:22: receivers.mapdelete.grouping_window: ',
    rest: /^expected a duration from 1ms to 1h, got "0s"$/,
  },
  {
    name: 'empty service name',
    text: RECV + '    service_name: ""\n' + TAIL,
    prefix: 'tracer.yaml:3:19: receivers.mapdelete.service_name: ',
    rest: /^expected a service name, got an empty string$/,
  },
  {
    name: 'targets as a list',
    text: RECV + '    targets: [1234]\n' + TAIL,
    prefix: 'tracer.yaml:3:14: receivers.mapdelete.targets: ',
    rest: /^expected a map with pids and\/or executables, got a list$/,
  },
  {
    name: 'one pid where a list is expected',
    text: RECV + '    targets:\n      pids: 1234\n' + TAIL,
    prefix: 'tracer.yaml:4:13: receivers.mapdelete.targets.pids: ',
    rest: /^expected a list of process ids, got 1234 \(write \[1234\]\)$/,
  },
  {
    name: 'a pid that is not a positive integer (the item is named)',
    text: RECV + '    targets:\n      pids: [12, 0]\n' + TAIL,
    prefix: 'tracer.yaml:4:18: receivers.mapdelete.targets.pids[1]: ',
    rest: /^expected a process id \(an integer from 1 to 4194304\), got 0$/,
  },
  {
    name: 'a pid written as a name',
    text: RECV + '    targets:\n      pids:\n        - 12\n        - app\n' + TAIL,
    prefix: 'tracer.yaml:6:11: receivers.mapdelete.targets.pids[1]: ',
    rest: /got "app"$/,
  },
  {
    name: 'a relative executable path',
    text: RECV + '    targets:\n      executables: [bin/app]\n' + TAIL,
    prefix: 'tracer.yaml:4:21: receivers.mapdelete.targets.executables[0]: ',
    rest: /^expected an absolute path, got "bin\/app" \(a relative path would depend/,
  },
  {
    name: 'a boolean key to keep',
    text: RECV + '    sampling:\n      keep:\n        keys: ["a", true]\n' + TAIL,
    prefix: 'tracer.yaml:5:21: receivers.mapdelete.sampling.keep.keys[1]: ',
    rest: /^expected a string or an integer, got true \(only string and integer keys are matched by value; to match the string, quote it: "true"\)$/,
  },
  {
    name: 'a float key to keep',
    text: RECV + '    sampling:\n      keep:\n        keys: [1.5]\n' + TAIL,
    prefix: 'tracer.yaml:5:16: receivers.mapdelete.sampling.keep.keys[0]: ',
    rest: /got 1\.5/,
  },
  {
    name: 'an integer key too wide for 64 bits',
    text: RECV + '    sampling:\n      keep:\n        keys: [18446744073709551616]\n' + TAIL,
    prefix: 'tracer.yaml:5:16: receivers.mapdelete.sampling.keep.keys[0]: ',
    rest: /^expected an integer that fits 64 bits, got 18446744073709551616$/,
  },
  {
    name: 'a map type pattern that is a number',
    text: RECV + '    sampling:\n      keep:\n        map_types: [42]\n' + TAIL,
    prefix: 'tracer.yaml:5:21: receivers.mapdelete.sampling.keep.map_types[0]: ',
    rest: /got 42 \(quote it: "42"\)$/,
  },

  // --- receivers section ---------------------------------------------------------------------
  {
    name: 'no receivers section',
    text: TAIL,
    prefix: 'tracer.yaml:1:1: receivers: ',
    rest: /^required: add a receivers section/,
  },
  {
    name: 'receivers without mapdelete',
    text: 'receivers: {}\n' + TAIL,
    prefix: 'tracer.yaml:1:1: receivers.mapdelete: ',
    rest: /^required: add the mapdelete receiver/,
  },
  {
    name: 'a receiver type that does not exist (yet)',
    text: RECV + '  jaeger:\n' + TAIL,
    prefix: 'tracer.yaml:3:3: receivers.jaeger: ',
    rest: /^unknown receiver type "jaeger" \(this version has: mapdelete, otlp\)$/,
  },
  {
    name: 'a misspelt receiver type',
    text: 'receivers:\n  map_delete:\n' + TAIL,
    prefix: 'tracer.yaml:2:3: receivers.map_delete: ',
    rest: /did you mean "mapdelete"\?/,
  },
  {
    name: 'a named mapdelete receiver',
    text: 'receivers:\n  mapdelete/two:\n' + TAIL,
    prefix: 'tracer.yaml:2:3: receivers.mapdelete/two: ',
    rest: /^only one mapdelete receiver is supported \(name it "mapdelete"\)$/,
  },

  // --- exporters -----------------------------------------------------------------------------
  {
    name: 'an unknown exporter type, close to a known one',
    text: RECV + 'exporters:\n  otpl:\n    endpoint: x:1\n',
    prefix: 'tracer.yaml:4:3: exporters.otpl: ',
    rest: /^unknown exporter type "otpl" \(did you mean "otlp"\?\)$/,
  },
  {
    name: 'the collector\'s otlphttp exporter',
    text: RECV + 'exporters:\n  otlphttp/backend:\n',
    prefix: 'tracer.yaml:4:3: exporters.otlphttp/backend: ',
    rest: /only OTLP over gRPC is supported/,
  },
  {
    name: 'the collector\'s otlp_grpc name',
    text: RECV + 'exporters:\n  otlp_grpc:\n',
    prefix: 'tracer.yaml:4:3: exporters.otlp_grpc: ',
    rest: /called "otlp" here/,
  },
  {
    name: 'an exporter id with an empty name',
    text: RECV + 'exporters:\n  debug/:\n',
    prefix: 'tracer.yaml:4:3: exporters.debug/: ',
    rest: /is not a valid exporter id/,
  },
  {
    name: 'otlp without an endpoint (and no OTEL_EXPORTER_OTLP_ENDPOINT)',
    text: RECV + 'exporters:\n  otlp:\n    compression: gzip\n',
    prefix: 'tracer.yaml:4:3: exporters.otlp.endpoint: ',
    rest: /^required: .*OTEL_EXPORTER_OTLP_ENDPOINT\)$/,
  },
  {
    name: 'otlp endpoint without a port',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: collector\n',
    prefix: 'tracer.yaml:5:15: exporters.otlp.endpoint: ',
    rest: /got "collector" \(write host:port, http:\/\/host:port or https:\/\/host:port\)$/,
  },
  {
    name: 'otlp endpoint with another scheme',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: unix:///run/otel.sock\n',
    prefix: 'tracer.yaml:5:15: exporters.otlp.endpoint: ',
    rest: /not unix:\/\/\)$/,
  },
  {
    name: 'otlp endpoint with an OTLP/HTTP path',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: http://otelcol:4318/v1/traces\n',
    prefix: 'tracer.yaml:5:15: exporters.otlp.endpoint: ',
    rest: /drop "\/v1\/traces"\)$/,
  },
  {
    name: 'tls.insecure false with an http:// endpoint',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: http://otelcol:4317\n    tls:\n      insecure: false\n',
    prefix: 'tracer.yaml:7:17: exporters.otlp.tls.insecure: ',
    rest: /^false contradicts the http:\/\/ endpoint/,
  },
  {
    name: 'tls.insecure true with an https:// endpoint',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: https://otelcol:4317\n    tls: { insecure: true }\n',
    prefix: 'tracer.yaml:6:22: exporters.otlp.tls.insecure: ',
    rest: /^true contradicts the https:\/\/ endpoint/,
  },
  {
    name: 'a client certificate without its key',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    tls:\n      cert_file: /etc/c.pem\n',
    prefix: 'tracer.yaml:7:18: exporters.otlp.tls.cert_file: ',
    rest: /needs both cert_file and key_file: set tls\.key_file/,
  },
  {
    name: 'a collector TLS option that is not supported',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    tls:\n      insecure_skip_verify: true\n',
    prefix: 'tracer.yaml:7:7: exporters.otlp.tls.insecure_skip_verify: ',
    rest: /^unknown key "insecure_skip_verify" \(not supported/,
  },
  {
    name: 'an unknown compression',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    compression: zstd\n',
    prefix: 'tracer.yaml:6:18: exporters.otlp.compression: ',
    rest: /^expected one of gzip \| none, got "zstd"$/,
  },
  {
    name: 'a zero timeout',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    timeout: 0s\n',
    prefix: 'tracer.yaml:6:14: exporters.otlp.timeout: ',
    rest: /^expected a duration from 1ms to 1h, got "0s"$/,
  },
  {
    name: 'a negative duration',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    timeout: -5s\n',
    prefix: 'tracer.yaml:6:14: exporters.otlp.timeout: ',
    rest: /got "-5s" \(a duration cannot be negative\)$/,
  },
  {
    name: 'retry initial interval longer than the maximum',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    retry_on_failure:\n      initial_interval: 1m\n',
    prefix: 'tracer.yaml:7:25: exporters.otlp.retry_on_failure.initial_interval: ',
    rest: /^"1m" is longer than max_interval \(30s\)/,
  },
  {
    name: 'retry maximum below the default initial interval',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    retry_on_failure: { max_interval: 1s }\n',
    prefix: 'tracer.yaml:6:39: exporters.otlp.retry_on_failure.max_interval: ',
    rest: /^"1s" is shorter than initial_interval \(default 5s\)/,
  },
  {
    name: 'queue size 0',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    sending_queue:\n      queue_size: 0\n',
    prefix: 'tracer.yaml:7:19: exporters.otlp.sending_queue.queue_size: ',
    rest: /got 0$/,
  },
  {
    name: 'a header value that is a number',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    headers:\n      x-tenant: 42\n',
    prefix: 'tracer.yaml:7:17: exporters.otlp.headers.x-tenant: ',
    rest: /^expected a string, got 42 \(quote it: "42"\)$/,
  },
  {
    name: 'a header name that is not one',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: otelcol:4317\n    headers:\n      "x tenant": a\n',
    prefix: 'tracer.yaml:7:7: exporters.otlp.headers.x tenant: ',
    rest: /is not a valid header name/,
  },
  {
    name: 'debug verbosity that does not exist',
    text: RECV + 'exporters:\n  debug:\n    verbosity: detailled\n',
    prefix: 'tracer.yaml:5:16: exporters.debug.verbosity: ',
    rest: /^expected one of basic \| normal \| detailed, got "detailled" \(did you mean "detailed"\?\)$/,
  },
  {
    name: 'file exporter without a path',
    text: RECV + 'exporters:\n  file/audit:\n',
    prefix: 'tracer.yaml:4:3: exporters.file/audit.path: ',
    rest: /^required: the file to append JSON lines to/,
  },
  {
    name: 'two file exporters writing one file',
    text: RECV + 'exporters:\n  file/a: { path: /tmp/x.jsonl }\n  file/b: { path: /tmp/x.jsonl }\n',
    prefix: 'tracer.yaml:5:3: exporters.file/b.path: ',
    rest: /^same file as exporters\.file\/a/,
  },
  {
    name: 'no exporters section',
    text: RECV + 'service:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: [debug]\n',
    prefix: 'tracer.yaml:1:1: exporters: ',
    rest: /^required: add an exporters section/,
  },

  // --- service -------------------------------------------------------------------------------
  {
    name: 'no service section',
    text: RECV + 'exporters:\n  debug:\n',
    prefix: 'tracer.yaml:1:1: service.pipelines.traces: ',
    rest: /^required: add service: pipelines: traces:/,
  },
  {
    name: 'service without pipelines',
    text: RECV + 'exporters:\n  debug:\nservice:\n',
    prefix: 'tracer.yaml:5:1: service.pipelines.traces: ',
    rest: /^required/,
  },
  {
    name: 'pipelines without traces',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines: {}\n',
    prefix: 'tracer.yaml:6:3: service.pipelines.traces: ',
    rest: /^required/,
  },
  {
    name: 'a metrics pipeline',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines:\n    metrics:\n      receivers: [mapdelete]\n',
    prefix: 'tracer.yaml:7:5: service.pipelines.metrics: ',
    rest: /^unknown key "metrics" \(this tracer only produces traces: use traces\)$/,
  },
  {
    name: 'a second, named traces pipeline',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines:\n    traces/2:\n      receivers: [mapdelete]\n',
    prefix: 'tracer.yaml:7:5: service.pipelines.traces/2: ',
    rest: /only one traces pipeline is supported/,
  },
  {
    name: 'processors in the pipeline',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      processors: [batch]\n      exporters: [debug]\n',
    prefix: 'tracer.yaml:9:7: service.pipelines.traces.processors: ',
    rest: /^unknown key "processors" \(this tracer has no processors: /,
  },
  {
    name: 'a processors section',
    text: 'processors:\n  batch:\n' + RECV + TAIL,
    prefix: 'tracer.yaml:1:1: processors: ',
    rest: /^unknown key "processors" \(this tracer has no processors/,
  },
  {
    name: 'a pipeline naming an exporter that is not defined',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: [debug, otlp]\n',
    prefix: 'tracer.yaml:9:26: service.pipelines.traces.exporters[1]: ',
    rest: /^exporter "otlp" is not defined under exporters: \(defined: debug\)$/,
  },
  {
    name: 'a pipeline naming a misspelt exporter',
    text: RECV + 'exporters:\n  otlp/primary: { endpoint: "otelcol:4317" }\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: [otlp/primry]\n',
    prefix: 'tracer.yaml:9:19: service.pipelines.traces.exporters[0]: ',
    rest: /did you mean "otlp\/primary"\?/,
  },
  {
    name: 'a pipeline naming a receiver that is not defined',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete, otlp]\n      exporters: [debug]\n',
    prefix: 'tracer.yaml:8:30: service.pipelines.traces.receivers[1]: ',
    rest: /^receiver "otlp" is not defined under receivers:/,
  },
  {
    name: 'a pipeline listing an exporter twice',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: [debug, debug]\n',
    prefix: 'tracer.yaml:9:26: service.pipelines.traces.exporters[1]: ',
    rest: /listed twice/,
  },
  {
    name: 'a pipeline without exporters',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [mapdelete]\n      exporters: []\n',
    prefix: 'tracer.yaml:9:18: service.pipelines.traces.exporters: ',
    rest: /^expected at least one exporter \(e\.g\. \[debug\]\)$/,
  },
  {
    name: 'a pipeline that does not list receivers',
    text: RECV + 'exporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      exporters: [debug]\n',
    prefix: 'tracer.yaml:7:5: service.pipelines.traces.receivers: ',
    rest: /^required: receivers: \[mapdelete\]$/,
  },

  // --- the file as a whole -------------------------------------------------------------------
  {
    name: 'an unknown top-level key',
    text: RECV + TAIL + 'extension:\n  x: 1\n',
    prefix: 'tracer.yaml:10:1: extension: ',
    rest: /did you mean "exporters"\?|expected one of/,
  },
  {
    name: 'YAML syntax error (its line)',
    text: RECV + '    sampling:\n      rate: [0.5\n' + TAIL,
    prefix: 'tracer.yaml:',
    rest: /YAML syntax error: .*\(fix the YAML syntax\)$/,
  },
  {
    name: 'a duplicate key',
    text: RECV + '    stack_depth: 8\n    stack_depth: 9\n' + TAIL,
    prefix: 'tracer.yaml:4:5: YAML syntax error: ',
    rest: /^Map keys must be unique \(keep one of them\)$/,
  },
  {
    name: 'tab indentation',
    text: 'receivers:\n\tmapdelete:\n' + TAIL,
    prefix: 'tracer.yaml:2:1: YAML syntax error: ',
    rest: /\(indent with spaces\)$/,
  },
  {
    name: 'an unquoted ${env:…} inside [ ]',
    text: RECV + '    targets:\n      pids: [${env:PID}]\n' + TAIL,
    env: { PID: '1' },
    prefix: 'tracer.yaml:4:',
    rest: /YAML syntax error: .*quote values that use \$\{…\}: "\$\{env:NAME\}"\)$/,
  },
  {
    name: 'a list at the top level',
    text: '- receivers\n',
    prefix: 'tracer.yaml:1:1: ',
    rest: /^expected a map with receivers, exporters and service, got a list$/,
  },
  {
    name: 'an empty file',
    text: '# nothing yet\n',
    prefix: 'tracer.yaml:1:1: ',
    rest: /^the file has no settings/,
  },
  {
    name: 'two YAML documents',
    text: RECV + TAIL + '---\nreceivers: {}\n',
    prefix: 'tracer.yaml:10:1: ',
    rest: /^the file holds more than one YAML document/,
  },
  {
    name: 'a YAML merge key',
    text: RECV + '    <<: { stack_depth: 3 }\n' + TAIL,
    prefix: 'tracer.yaml:3:5: receivers.mapdelete.<<: ',
    rest: /^unknown key "<<" \(YAML merge keys are not supported/,
  },
  {
    name: 'an alias inside the value it names',
    text: RECV + '    sampling: &s\n      keep: *s\n' + TAIL,
    prefix: 'tracer.yaml:4:13: receivers.mapdelete.sampling.keep.keep: ',
    rest: /^alias \*s refers to a value that contains it$/,
  },
  {
    name: 'a scalar instead of the whole file',
    text: 'receivers\n',
    prefix: 'tracer.yaml:1:1: ',
    rest: /^expected a map with receivers, exporters and service, got "receivers" \(start from config\/minimal\.yaml\)$/,
  },
  {
    name: 'an alias to an anchor that is not defined',
    text: RECV + '    sampling: *common\n' + TAIL,
    prefix: 'tracer.yaml:3:15: receivers.mapdelete.sampling: ',
    rest: /^unknown alias \*common/,
  },

  // --- ${env:…} ----------------------------------------------------------------------------------
  {
    name: 'an unset variable without a default (its position in the value)',
    text: RECV + 'exporters:\n  otlp:\n    endpoint: "http://${env:OTELCOL_HOST}:4317"\n',
    prefix: 'tracer.yaml:5:23: exporters.otlp.endpoint: ',
    rest: /^environment variable OTELCOL_HOST is not set \(set it, or give a default: \$\{env:OTELCOL_HOST:-VALUE\}\)$/,
  },
  {
    name: 'a reference without env:',
    text: RECV + '    service_name: ${SERVICE}\n' + TAIL,
    prefix: 'tracer.yaml:3:19: receivers.mapdelete.service_name: ',
    rest: /^malformed reference "\$\{SERVICE\}" \(write \$\{env:SERVICE\}; \$\$ for a literal \$\)$/,
  },
  {
    name: 'an unterminated reference',
    text: RECV + '    service_name: "a-${env:X"\n' + TAIL,
    prefix: 'tracer.yaml:3:22: receivers.mapdelete.service_name: ',
    rest: /^unterminated reference/,
  },
  {
    name: 'a substituted value of the wrong type names the reference',
    text: RECV + '    sampling:\n      rate: ${env:RATE}\n' + TAIL,
    env: { RATE: 'lots' },
    prefix: 'tracer.yaml:4:13: receivers.mapdelete.sampling.rate: ',
    rest: /^expected a number in \(0, 1\], got "lots" \(from \$\{env:RATE\}\)$/,
  },
];

describe('config errors: FILE:LINE:COL: KEY.PATH: what (how to fix)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const err = loadError(c.text, c.env);
      assert.ok(err.message.startsWith(c.prefix), `expected prefix ${JSON.stringify(c.prefix)}\n     got ${JSON.stringify(err.message)}`);
      assert.match(err.message.slice(c.prefix.length), c.rest);
    });
  }

  it('carries the location as fields too', () => {
    const err = loadError(RECV + '    stack_depth: 0\n' + TAIL);
    assert.deepEqual(err.location, { file: 'tracer.yaml', line: 3, col: 18, keyPath: 'receivers.mapdelete.stack_depth' });
  });

  it('reports the first mistake in file order', () => {
    const err = loadError(RECV + '    stack_depth: 99\n    capture_keys: maybe\n' + TAIL);
    assert.match(err.message, /^tracer\.yaml:3:18: receivers\.mapdelete\.stack_depth: /);
  });
});

describe('config file that cannot be read', () => {
  it('names the file and the errno, and how to fix it', () => {
    const missing = path.join(os.tmpdir(), `mdt-no-such-${process.pid}.yaml`);
    assert.throws(
      () => loadConfigFile(missing),
      (e: Error) => e instanceof ConfigError && e instanceof UserError && e.message === `cannot read ${missing}: ENOENT (pass an existing file to --config)`,
    );
  });
  it('a directory', () => {
    assert.throws(() => loadConfigFile(os.tmpdir()), (e: Error) => e instanceof ConfigError && e.message === `cannot read ${os.tmpdir()}: EISDIR (pass a file, not a directory, to --config)`);
  });
  it('errors inside a file name the file as given', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-config-'));
    try {
      const file = path.join(dir, 'tracer.yaml');
      fs.writeFileSync(file, '\ufeff' + RECV + '    stack_depth: 0\n' + TAIL);
      assert.throws(() => loadConfigFile(file), (e: Error) => e instanceof ConfigError && e.message.startsWith(`${file}:3:18: receivers.mapdelete.stack_depth: `));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
