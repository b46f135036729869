/**
 * The `receivers:` section. RECEIVER_TYPES maps a receiver type to the function that reads
 * its settings; a new receiver is a new entry here and a new field of TracerConfig['receivers'].
 */
import * as path from 'node:path';
import type { MapDeleteReceiverConfig, OtlpReceiverConfig, TracerConfig } from './types';
import { asBool, asDuration, asInt, asList, asNumber, asString, expected, fail, parseNumber, readMap, warn, type CNode, type MapEntry } from './tree';
import { RedactPatternError, compileRedactor } from '../events/redact';
import { MIB, OTLP_GRPC_DEFAULTS, parseEndpoint } from '../otlp/server';
import { SAMPLING_RATE_VARIABLE, envError, samplingRateSetting, serviceNameSetting } from './environment';

type Receivers = TracerConfig['receivers'];

export const RECEIVER_TYPES: { [K in keyof Receivers]-?: (node: CNode, id: string) => NonNullable<Receivers[K]> } = {
  mapdelete: readMapDelete,
  otlp: readOtlp,
};

/** Receivers a configuration must define. */
export const REQUIRED_RECEIVERS: (keyof Receivers)[] = ['mapdelete'];

export const MAPDELETE_DEFAULTS = {
  captureKeys: false,
  stackDepth: 16,
  samplingRate: 1.0,
  maxEventsPerSecond: 5000,
  ringBufferBytes: 16 * 1024 * 1024,
  groupingWindowMs: 1000,
  spans: { enabled: true, inheritance: 'creation' as const },
};
const INHERITANCE = ['creation', 'return', 'off'] as const;

/** The kernel's PID_MAX_LIMIT on 64-bit. */
const PID_MAX = 4_194_304;
const RING_MIN = 4096;
const RING_MAX = 1 << 30;
const RATE = 'a number in (0, 1]';

export function isSamplingRate(n: number): boolean {
  return Number.isFinite(n) && n > 0 && n <= 1;
}

function readMapDelete(node: CNode): MapDeleteReceiverConfig {
  const cfg: MapDeleteReceiverConfig = {
    pids: [],
    executables: [],
    captureKeys: MAPDELETE_DEFAULTS.captureKeys,
    redactKeys: [],
    stackDepth: MAPDELETE_DEFAULTS.stackDepth,
    sampling: { rate: MAPDELETE_DEFAULTS.samplingRate, keep: { keys: [], mapTypes: [], callers: [] } },
    maxEventsPerSecond: MAPDELETE_DEFAULTS.maxEventsPerSecond,
    ringBufferBytes: MAPDELETE_DEFAULTS.ringBufferBytes,
    groupingWindowMs: MAPDELETE_DEFAULTS.groupingWindowMs,
    spans: { ...MAPDELETE_DEFAULTS.spans },
    events: true,
  };
  const underTargets = 'put it under targets:';
  const underSampling = 'put it under sampling:';
  let redactNode: CNode | undefined;
  readMap(
    node,
    {
      targets: (v) =>
        readMap(v, {
          pids: (x) => {
            const pids = asList(x, 'process ids').map((p) => asInt(p, 1, PID_MAX, `a process id (an integer from 1 to ${PID_MAX})`));
            cfg.pids = [...new Set(pids)];
          },
          executables: (x) => {
            const exes = asList(x, 'absolute paths of Go executables').map((e) => {
              const s = asString(e, 'an absolute path of a Go executable');
              if (!path.isAbsolute(s)) expected(e, 'an absolute path', 'a relative path would depend on the directory the tracer starts in');
              return s;
            });
            cfg.executables = [...new Set(exes)];
          },
        }, {}, 'a map with pids and/or executables'),
      capture_keys: (v) => (cfg.captureKeys = asBool(v)),
      redact_keys: (v) => {
        const items = asList(v, 'regular expressions');
        cfg.redactKeys = items.map((x) => asString(x, 'a regular expression', { allowEmpty: true }));
        try {
          compileRedactor(cfg.redactKeys);
        } catch (err) {
          if (!(err instanceof RedactPatternError)) throw err;
          fail(items[err.index], err.message);
        }
        redactNode = v;
      },
      stack_depth: (v) => (cfg.stackDepth = asInt(v, 1, 32)),
      sampling: (v) =>
        readMap(v, {
          rate: (x) => (cfg.sampling.rate = asNumber(x, RATE, isSamplingRate)),
          keep: (x) =>
            readMap(x, {
              keys: (k) => (cfg.sampling.keep.keys = asList(k, 'key values').map((x) => readKeyValue(x))),
              map_types: (k) => (cfg.sampling.keep.mapTypes = asList(k, 'map type patterns').map((t) => asString(t, 'a map type pattern like "map[string]*main.Session" or "map[string]*"'))),
              callers: (k) => (cfg.sampling.keep.callers = asList(k, 'callers').map((c) => asString(c, 'a function like "main.(*Store).Expire" or a file:line like "store.go:57"'))),
            }, {}, 'a map with keys, map_types and/or callers'),
        }),
      max_events_per_second: (v) => (cfg.maxEventsPerSecond = asInt(v, 1, 100_000_000)),
      ring_buffer_bytes: (v) => (cfg.ringBufferBytes = readRingBufferBytes(v)),
      grouping_window: (v) => (cfg.groupingWindowMs = asDuration(v, 1, 3_600_000)),
      service_name: (v) => (cfg.serviceName = asString(v, 'a service name').trim()),
      events: (v) => (cfg.events = asBool(v)),
      spans: (v) =>
        readMap(v, {
          enabled: (x) => (cfg.spans.enabled = asBool(x)),
          inheritance: (x) => {
            const s = asString(x, `one of ${INHERITANCE.join(', ')}`);
            if (!(INHERITANCE as readonly string[]).includes(s)) expected(x, `one of ${INHERITANCE.join(', ')}`);
            cfg.spans.inheritance = s as (typeof INHERITANCE)[number];
          },
        }, {}, 'a map with enabled and/or inheritance'),
    },
    {
      pids: underTargets,
      pid: underTargets,
      executables: underTargets,
      exe: underTargets,
      rate: underSampling,
      keep: underSampling,
    },
  );

  if (redactNode && !cfg.captureKeys && cfg.redactKeys.length > 0) warn(redactNode, 'has no effect: key values are not captured (capture_keys: false), so none leave the kernel');

  const env = node.src.env;
  if (cfg.serviceName === undefined) {
    const setting = serviceNameSetting(env);
    if (setting) cfg.serviceName = setting.value;
  }
  const rate = samplingRateSetting(env);
  if (rate) {
    const n = parseNumber(rate.value);
    if (n === undefined || !isSamplingRate(n)) envError(rate, RATE, `it overrides receivers.mapdelete.sampling.rate; fix or unset ${SAMPLING_RATE_VARIABLE}`);
    cfg.sampling.rate = n;
  }
  return cfg;
}

/**
 * A map key given by value (keep-filters, watched keys): strings as they are, integers as their
 * decimal string. `others`: how keys of other types can be given, for the error's hint.
 */
export function readKeyValue(node: CNode, others = ''): string {
  if (node.kind === 'scalar') {
    const v = node.value;
    if (typeof v === 'string') return v;
    if (typeof v === 'bigint') {
      if (v >= -(2n ** 63n) && v < 2n ** 64n) return v.toString();
      return expected(node, 'an integer that fits 64 bits');
    }
    if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  }
  return expected(
    node,
    'a string or an integer',
    node.kind === 'scalar' && node.value !== null ? `only string and integer keys are matched by value${others}; to match the string, quote it: "${node.raw.trim()}"` : undefined,
  );
}

function readRingBufferBytes(node: CNode): number {
  const what = `a power of two from ${RING_MIN} to ${RING_MAX} (16777216 is 16 MiB)`;
  const n = asNumber(node, what, (x) => Number.isInteger(x) && x >= RING_MIN && x <= RING_MAX);
  if ((n & (n - 1)) !== 0) {
    const lower = 2 ** Math.floor(Math.log2(n));
    expected(node, what, `try ${lower} or ${lower * 2}`);
  }
  return n;
}

export const OTLP_RECEIVER_DEFAULTS = {
  endpoint: OTLP_GRPC_DEFAULTS.endpoint,
  maxRecvMsgSizeMib: OTLP_GRPC_DEFAULTS.maxRecvMsgSizeBytes / MIB,
  maxConcurrentRequests: OTLP_GRPC_DEFAULTS.maxInflightRequests,
  maxInflightSizeMib: OTLP_GRPC_DEFAULTS.maxInflightBytes / MIB,
  forwardTimeoutMs: 5000,
  attachEvents: true,
  deleteWaitMs: 10_000,
  settleMs: 200,
  maxPendingEvents: 100_000,
};

/** Largest max_recv_msg_size_mib / max_inflight_size_mib accepted. */
const OTLP_MAX_MIB = 1024;

/** A key of the collector's otlp receiver that this one does not have: one line that says so. */
function notSupportedYet(why: string): (value: CNode, entry: MapEntry) => never {
  return (value, entry) => value.src.fail(entry.keyAt, value.path, `not supported yet: ${why}`);
}

function readOtlp(node: CNode): OtlpReceiverConfig {
  const grpc = {
    endpoint: OTLP_RECEIVER_DEFAULTS.endpoint,
    recvMib: OTLP_RECEIVER_DEFAULTS.maxRecvMsgSizeMib,
    inflightMib: undefined as number | undefined,
    inflightNode: undefined as CNode | undefined,
    concurrent: OTLP_RECEIVER_DEFAULTS.maxConcurrentRequests,
  };
  let forwardTimeoutMs = OTLP_RECEIVER_DEFAULTS.forwardTimeoutMs;
  const attach: OtlpReceiverConfig['attach'] = {
    enabled: OTLP_RECEIVER_DEFAULTS.attachEvents,
    deleteWaitMs: OTLP_RECEIVER_DEFAULTS.deleteWaitMs,
    settleMs: OTLP_RECEIVER_DEFAULTS.settleMs,
    maxPendingEvents: OTLP_RECEIVER_DEFAULTS.maxPendingEvents,
  };
  const mib = (x: CNode) => asNumber(x, `a size in MiB, more than 0 and at most ${OTLP_MAX_MIB}`, (n) => n * MIB >= 1 && n <= OTLP_MAX_MIB);
  const tlsFiles: Partial<Record<'certFile' | 'keyFile' | 'clientCaFile', string>> = {};
  let tlsNode: CNode | undefined;
  const file = (name: keyof typeof tlsFiles) => (x: CNode) => (tlsFiles[name] = asString(x, 'a file path').trim());
  const tls = (v: CNode) => {
    tlsNode = v;
    readMap(
      v,
      { cert_file: file('certFile'), key_file: file('keyFile'), client_ca_file: file('clientCaFile') },
      {
        ca_file: 'did you mean "client_ca_file" (the CA that signs the senders\' certificates)?',
        insecure: 'not a receiver setting: without tls: the receiver serves plain text',
      },
    );
  };
  const includeMetadata = notSupportedYet("the sender's metadata is not forwarded; remove include_metadata");
  const grpcOnly = (key: string) => notSupportedYet(`remove ${key} (the receiver takes endpoint, tls, max_recv_msg_size_mib, max_concurrent_requests and max_inflight_size_mib)`);
  readMap(
    node,
    {
      protocols: (v) =>
        readMap(
          v,
          {
            grpc: (g) => {
              readMap(g, {
                endpoint: (x) => {
                  const s = asString(x, 'host:port like 127.0.0.1:4317').trim();
                  try {
                    parseEndpoint(s);
                  } catch {
                    expected(x, 'host:port like 127.0.0.1:4317, [::1]:4317 or :4317 (every interface)', s.includes('://') ? 'write host:port without a scheme' : undefined);
                  }
                  grpc.endpoint = s;
                },
                max_recv_msg_size_mib: (x) => (grpc.recvMib = mib(x)),
                max_concurrent_requests: (x) => (grpc.concurrent = asInt(x, 1, 100_000)),
                max_inflight_size_mib: (x) => {
                  grpc.inflightMib = mib(x);
                  grpc.inflightNode = x;
                },
                tls,
                include_metadata: includeMetadata,
                auth: grpcOnly('auth'),
                keepalive: grpcOnly('keepalive'),
                read_buffer_size: grpcOnly('read_buffer_size'),
                write_buffer_size: grpcOnly('write_buffer_size'),
                transport: grpcOnly('transport'),
                max_concurrent_streams: notSupportedYet('use max_concurrent_requests (requests in flight before UNAVAILABLE)'),
              });
            },
            http: notSupportedYet('only OTLP/gRPC is received; remove protocols.http and send to the grpc endpoint (usually port 4317)'),
          },
          {},
          'a map with grpc',
        ),
      forward_timeout: (v) => (forwardTimeoutMs = asDuration(v, 1, 3_600_000)),
      attach_events: (v) => (attach.enabled = asBool(v)),
      delete_wait: (v) => (attach.deleteWaitMs = asDuration(v, 0, 3_600_000)),
      settle: (v) => (attach.settleMs = asDuration(v, 0, 5000)),
      max_pending_events: (v) => (attach.maxPendingEvents = asInt(v, 1, 10_000_000)),
      include_metadata: includeMetadata,
    },
    {
      tls: 'put it under protocols: grpc:',
      grpc: 'put it under protocols:',
      endpoint: 'put it under protocols: grpc:',
      max_recv_msg_size_mib: 'put it under protocols: grpc:',
      max_concurrent_requests: 'put it under protocols: grpc:',
      max_inflight_size_mib: 'put it under protocols: grpc:',
      wait: 'did you mean "delete_wait"?',
      settle_time: 'did you mean "settle"?',
      max_pending: 'did you mean "max_pending_events"?',
    },
  );
  const recvBytes = Math.round(grpc.recvMib * MIB);
  let inflightBytes: number;
  if (grpc.inflightMib === undefined) {
    inflightBytes = Math.max(OTLP_RECEIVER_DEFAULTS.maxInflightSizeMib * MIB, recvBytes);
  } else {
    inflightBytes = Math.round(grpc.inflightMib * MIB);
    if (inflightBytes < recvBytes) expected(grpc.inflightNode!, `at least max_recv_msg_size_mib (${grpc.recvMib})`, 'bytes in flight must hold the largest request');
  }
  let tlsConfig: OtlpReceiverConfig['grpc']['tls'];
  if (tlsNode) {
    const { certFile, keyFile, clientCaFile } = tlsFiles;
    if (!certFile || !keyFile) fail(tlsNode, `serving TLS needs both cert_file and key_file: set ${!certFile ? 'cert_file' : 'key_file'} (or remove tls: for plain text)`);
    tlsConfig = { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}) };
  }
  return {
    grpc: { endpoint: grpc.endpoint, maxRecvMsgSizeBytes: recvBytes, maxInflightRequests: grpc.concurrent, maxInflightBytes: inflightBytes, ...(tlsConfig ? { tls: tlsConfig } : {}) },
    forwardTimeoutMs,
    attach,
  };
}
