/**
 * docker-compose.yml, the Dockerfiles (the tracer's, examples/otel-http's, examples/sessions'),
 * .dockerignore and scripts/docker-find-pid.sh, checked without a Docker engine (none runs on the
 * test machines):
 *
 * - the compose file's structure: what Compose requires and what this project relies on (the
 *   tracer's PID namespace and exact capabilities, pinned images, mounted files that exist,
 *   depends_on naming real services, the example sending its spans to the tracer's otlp receiver
 *   as the tracer's own config loader reads it, ports, ...);
 * - when a Compose v2 CLI is available (`docker compose`, a v2 `docker-compose`, or the binary
 *   named by $MDT_DOCKER_COMPOSE), `config --quiet` validates the file against the Compose
 *   specification for real — that needs no daemon; without one, that test is skipped and says so;
 * - every file a Dockerfile copies from its build context exists and is not excluded by
 *   .dockerignore; the runtime image holds the paths the receiver loads;
 * - docker-find-pid.sh on real processes.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { bpfObjectPath, packageRoot } from '../../receiver/util/paths';
import { loadConfigFile } from '../../receiver/config/load';

const ROOT = packageRoot();
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function loadCompose(): Obj {
  const doc = YAML.parseDocument(fs.readFileSync(COMPOSE_FILE, 'utf8'), { uniqueKeys: true, prettyErrors: true });
  assert.deepEqual(doc.errors.map(String), [], 'YAML errors');
  assert.deepEqual(doc.warnings.map(String), [], 'YAML warnings');
  const v = doc.toJS();
  assert.ok(isObj(v), 'the compose file is a mapping');
  return v;
}

function services(c: Obj): Record<string, Obj> {
  assert.ok(isObj(c.services), '`services` is a mapping');
  for (const [name, s] of Object.entries(c.services)) assert.ok(isObj(s), `service ${name} is a mapping`);
  return c.services as Record<string, Obj>;
}

/** Linux capability names (without CAP_), from the kernel's UAPI header when installed. */
function linuxCapabilities(): Set<string> {
  const header = '/usr/include/linux/capability.h';
  if (fs.existsSync(header)) {
    const names = [...fs.readFileSync(header, 'utf8').matchAll(/^#define CAP_([A-Z_]+)\s+\d+\s*$/gm)].map((m) => m[1]);
    if (names.length >= 41) return new Set(names);
  }
  return new Set(
    ('CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE ' +
      'NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT ' +
      'SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE ' +
      'AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ ' +
      'PERFMON BPF CHECKPOINT_RESTORE').split(' '),
  );
}
const capName = (c: string) => c.toUpperCase().replace(/^CAP_/, '');

/** Service keys of the Compose specification (a typo such as `cap-add` is silently ignored by
 *  nothing: Compose rejects it, so catch it here too). */
const SERVICE_KEYS = new Set(
  ('annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs container_name ' +
    'cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares cpus cpuset ' +
    'credential_spec depends_on deploy develop device_cgroup_rules devices dns dns_opt dns_search domainname ' +
    'entrypoint env_file environment expose extends external_links extra_hosts gpus group_add healthcheck ' +
    'hostname image init ipc isolation labels label_file links logging mac_address mem_limit mem_reservation ' +
    'mem_swappiness memswap_limit models network_mode networks oom_kill_disable oom_score_adj pid pids_limit ' +
    'platform ports post_start pre_stop privileged profiles provider pull_policy read_only restart runtime ' +
    'scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs ' +
    'tty ulimits use_api_socket user userns_mode uts volumes volumes_from working_dir').split(' '),
);
const TOP_KEYS = new Set(['name', 'services', 'networks', 'volumes', 'configs', 'secrets', 'include', 'models']);

// ---- Dockerfiles and .dockerignore ------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Instructions with line continuations joined and comments dropped (as BuildKit does). */
function parseDockerfile(file: string): Instruction[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: Instruction[] = [];
  let cur: { text: string; line: number } | undefined;
  lines.forEach((raw, i) => {
    const t = raw.trim();
    if (t.startsWith('#') || (!cur && t === '')) return;
    const cont = /\\\s*$/.test(raw);
    const body = cont ? raw.replace(/\\\s*$/, '') : raw;
    if (cur) cur.text += ' ' + body.trim();
    else cur = { text: body.trim(), line: i + 1 };
    if (!cont) {
      const m = /^(\S+)\s*(.*)$/.exec(cur.text)!;
      out.push({ op: m[1].toUpperCase(), args: m[2].trim(), line: cur.line });
      cur = undefined;
    }
  });
  assert.equal(cur, undefined, `${file}: the last instruction ends with a line continuation`);
  return out;
}

/** Source and destination words of COPY/ADD, in shell or JSON form, and its --flags. */
function copyArgs(args: string): { flags: Map<string, string>; srcs: string[]; dest: string } {
  const flags = new Map<string, string>();
  let rest = args;
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest);
    if (!m) break;
    flags.set(m[1], m[2] ?? '');
    rest = rest.slice(m[0].length);
  }
  const words: string[] = rest.startsWith('[') ? JSON.parse(rest) : rest.split(/\s+/);
  assert.ok(words.length >= 2, `COPY needs a source and a destination: ${args}`);
  return { flags, srcs: words.slice(0, -1), dest: words[words.length - 1] };
}

/** Go filepath.Match-style glob with `**` (any number of path elements), as .dockerignore uses. */
function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

class DockerIgnore {
  private rules: { re: RegExp; negate: boolean }[] = [];
  constructor(file: string) {
    if (!fs.existsSync(file)) return;
    for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
      let p = raw.trim();
      if (!p || p.startsWith('#')) continue;
      const negate = p.startsWith('!');
      if (negate) p = p.slice(1).trim();
      p = path.posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
      this.rules.push({ re: globRegExp(p), negate });
    }
  }
  /** Excluded when the last rule matching the path or one of its parent folders is not a "!" rule. */
  excludes(rel: string): boolean {
    const parts = rel.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of this.rules) {
      if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    }
    return excluded;
  }
}

/** Files under dir/rel (paths relative to dir), not descending into folders `skip` excludes. */
function walk(dir: string, rel = '', skip?: DockerIgnore): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (skip?.excludes(r)) continue;
    if (e.isDirectory()) out.push(...walk(dir, r, skip));
    else out.push(r);
  }
  return out;
}

interface Stage {
  name?: string;
  image: string;
  instructions: Instruction[];
}

function stages(instrs: Instruction[]): Stage[] {
  const args = new Map<string, string>();
  const out: Stage[] = [];
  for (const ins of instrs) {
    if (ins.op === 'ARG' && out.length === 0) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(ins.args)!;
      args.set(m[1], (m[2] ?? '').replace(/^"(.*)"$/, '$1'));
    } else if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(m, `line ${ins.line}: cannot parse FROM ${ins.args}`);
      const image = m[1].replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, n: string) => args.get(n) ?? '');
      out.push({ name: m[2], image, instructions: [] });
    } else {
      assert.ok(out.length > 0, `line ${ins.line}: ${ins.op} before FROM`);
      out[out.length - 1].instructions.push(ins);
    }
  }
  return out;
}

/** A pinned image: a tag with a version number, not `latest`. */
function assertPinned(image: string, where: string) {
  const m = /^(?:[^/]+\/)*[^/:@]+:([^@]+)(?:@sha256:[0-9a-f]{64})?$/.exec(image);
  assert.ok(m, `${where}: image ${image} has no tag`);
  assert.ok(m[1] !== 'latest' && /\d+\.\d+/.test(m[1]), `${where}: image ${image} is not pinned to a version`);
}

/** Checks every COPY/ADD from the build context; returns [source, dest] pairs. */
function checkContextCopies(dockerfile: string, context: string): Array<[string, string]> {
  const ignore = new DockerIgnore(path.join(context, '.dockerignore'));
  const files = walk(context, '', ignore);
  const pairs: Array<[string, string]> = [];
  const st = stages(parseDockerfile(dockerfile));
  const names = new Set(st.map((s) => s.name).filter(Boolean));
  for (const s of st) {
    for (const ins of s.instructions) {
      if (ins.op !== 'COPY' && ins.op !== 'ADD') continue;
      const { flags, srcs, dest } = copyArgs(ins.args);
      const from = flags.get('from');
      if (from !== undefined) {
        assert.ok(names.has(from), `${dockerfile}:${ins.line}: --from=${from} names no stage`);
        continue;
      }
      for (const src of srcs) {
        const rel = path.posix.normalize(src).replace(/^\.\/?/, '').replace(/\/$/, '');
        if (rel === '' || rel === '.') {
          pairs.push([src, dest]);
          continue;
        }
        const re = globRegExp(rel);
        const hit = files.some((f) => re.test(f) || f.startsWith(rel + '/'));
        assert.ok(
          hit,
          `${path.relative(ROOT, dockerfile)}:${ins.line}: COPY source ${src} is missing from the build context ` +
            `${path.relative(ROOT, context) || '.'} (or excluded by its .dockerignore)`,
        );
        pairs.push([src, dest]);
      }
    }
  }
  return pairs;
}

// ---- a Compose v2 CLI, if any -------------------------------------------------------------------

function composeCli(): string[] | undefined {
  const tries: string[][] = [];
  if (process.env.MDT_DOCKER_COMPOSE) tries.push([process.env.MDT_DOCKER_COMPOSE]);
  tries.push(['docker', 'compose'], ['docker-compose'], [path.join(ROOT, '.cache', 'tools', 'docker-compose')]);
  for (const cmd of tries) {
    const r = spawnSync(cmd[0], [...cmd.slice(1), 'version', '--short'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status === 0 && /^v?([2-9]|\d\d+)\./.test(r.stdout.trim())) return cmd;
  }
  return undefined;
}

// ---- the tests ------------------------------------------------------------------------------------

const SERVICES = ['example', 'jaeger', 'load', 'otelcol', 'prometheus', 'tracer'];

/** host and port of a listen or connect address: "0.0.0.0:4317", "http://tracer:4317". */
function hostPort(addr: string): { host: string; port: number } {
  const m = /^(?:[a-z]+:\/\/)?(\[[^\]]*\]|[^:/]*):(\d+)\/?$/.exec(addr);
  assert.ok(m, `${addr} is host:port`);
  return { host: m[1], port: Number(m[2]) };
}

describe('docker-compose.yml', () => {
  const caps = linuxCapabilities();

  it('is YAML with only Compose top-level keys and the six services', () => {
    const c = loadCompose();
    for (const k of Object.keys(c)) assert.ok(TOP_KEYS.has(k) || k.startsWith('x-'), `unknown top-level key ${k}`);
    assert.ok(!('version' in c), '`version` is obsolete in Compose v2');
    assert.deepEqual(Object.keys(services(c)).sort(), SERVICES);
  });

  it('uses only Compose service keys, and every service has an image or a build', () => {
    for (const [name, s] of Object.entries(services(loadCompose()))) {
      for (const k of Object.keys(s)) assert.ok(SERVICE_KEYS.has(k) || k.startsWith('x-'), `service ${name}: unknown key ${k}`);
      assert.ok(s.image !== undefined || s.build !== undefined, `service ${name} has neither image nor build`);
      for (const k of ['command', 'entrypoint'] as const) {
        if (s[k] !== undefined) {
          assert.ok(Array.isArray(s[k]) && (s[k] as unknown[]).every((x) => typeof x === 'string'), `service ${name}: ${k} is a list of strings`);
        }
      }
      if (s.environment !== undefined) {
        assert.ok(isObj(s.environment), `service ${name}: environment is a mapping`);
        for (const [k, v] of Object.entries(s.environment)) {
          assert.ok(['string', 'number', 'boolean'].includes(typeof v) || v === null, `service ${name}: environment ${k}`);
        }
      }
      if (s.restart !== undefined) assert.match(String(s.restart), /^(no|always|unless-stopped|on-failure(:\d+)?)$/);
    }
  });

  it('builds from contexts that exist and pins every pulled image', () => {
    const svc = services(loadCompose());
    const built = new Set(Object.values(svc).filter((s) => s.build !== undefined).map((s) => String(s.image)));
    for (const [name, s] of Object.entries(svc)) {
      if (s.build === undefined && built.has(String(s.image))) {
        // another service's image (the load tool runs from the example's): built here, never pulled
        assert.equal(s.pull_policy, 'never', `service ${name} uses the image another service builds: pull_policy: never`);
      } else if (s.build !== undefined) {
        const b = typeof s.build === 'string' ? { context: s.build } : (s.build as Obj);
        const ctx = path.resolve(ROOT, String(b.context ?? '.'));
        assert.ok(fs.statSync(ctx, { throwIfNoEntry: false })?.isDirectory(), `service ${name}: build context ${b.context} is missing`);
        const df = path.join(ctx, String(b.dockerfile ?? 'Dockerfile'));
        assert.ok(fs.existsSync(df), `service ${name}: ${path.relative(ROOT, df)} is missing`);
      } else {
        assertPinned(String(s.image), `service ${name}`);
      }
    }
  });

  it('publishes ports in valid syntax, Jaeger UI on localhost only', () => {
    const svc = services(loadCompose());
    for (const [name, s] of Object.entries(svc)) {
      for (const p of (s.ports as unknown[] | undefined) ?? []) {
        assert.equal(typeof p, 'string', `service ${name}: quote ports ("HOST:CONTAINER"): YAML reads 16686:16686 as a number in base 60`);
        assert.match(p as string, /^(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]):)?(?:\d+(?:-\d+)?:)?\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/, `service ${name}: port ${p}`);
      }
    }
    assert.deepEqual(svc.jaeger.ports, ['127.0.0.1:16686:16686']);
    assert.deepEqual(svc.example.ports, ['127.0.0.1:8080:8080']);
    for (const [name, s] of Object.entries(svc)) {
      for (const p of (s.ports as string[] | undefined) ?? []) assert.match(p, /^127\.0\.0\.1:/, `service ${name}: port ${p} is published on this machine only`);
    }
    // The tracer's OTLP receiver is for the project's containers: never published.
    assert.equal(svc.tracer.ports, undefined);
    assert.equal(svc.tracer.network_mode, undefined, 'the tracer stays on the compose network (pid: host only)');
  });

  it('mounts files that exist in the repository, read-only, at absolute paths', () => {
    for (const [name, s] of Object.entries(services(loadCompose()))) {
      for (const v of (s.volumes as unknown[] | undefined) ?? []) {
        assert.equal(typeof v, 'string', `service ${name}: volume ${JSON.stringify(v)} (short syntax expected)`);
        const [src, dst, mode, ...extra] = (v as string).split(':');
        assert.equal(extra.length, 0, `service ${name}: volume ${v}`);
        assert.ok(src.startsWith('./'), `service ${name}: ${v} mounts a repository file (relative path)`);
        // A missing bind-mount source is created by Docker as an empty directory: the service
        // would then fail on a directory where its config file should be.
        assert.ok(fs.statSync(path.join(ROOT, src), { throwIfNoEntry: false })?.isFile(), `service ${name}: ${src} is missing`);
        assert.ok(dst?.startsWith('/'), `service ${name}: mount target ${dst} is absolute`);
        assert.equal(mode, 'ro', `service ${name}: ${v} is mounted read-only`);
      }
    }
  });

  // CAP_SYS_ADMIN: current kernels require it to create a uprobe (CVE-2025-38466 fix); see the
  // comment in docker-compose.yml.
  it('gives the tracer the host PID namespace and exactly BPF, PERFMON, SYS_ADMIN, SYS_PTRACE', () => {
    const svc = services(loadCompose());
    for (const [name, s] of Object.entries(svc)) {
      assert.notEqual(s.privileged, true, `service ${name} must not be privileged`);
      for (const k of ['cap_add', 'cap_drop'] as const) {
        for (const c of (s[k] as string[] | undefined) ?? []) {
          assert.ok(c === 'ALL' || caps.has(capName(c)), `service ${name}: ${k} ${c} is not a Linux capability`);
        }
      }
      if (name !== 'tracer') {
        assert.equal(s.cap_add, undefined, `service ${name} needs no added capability`);
        assert.notEqual(s.pid, 'host', `service ${name} needs no host PID namespace`);
      }
    }
    const t = svc.tracer;
    assert.equal(t.pid, 'host');
    assert.deepEqual(((t.cap_add as string[]) ?? []).map(capName).sort(), ['BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE']);
    assert.deepEqual(t.cap_drop, ['ALL']);
    for (const o of (t.security_opt as string[] | undefined) ?? []) {
      assert.doesNotMatch(o, /unconfined/, 'the default seccomp and AppArmor profiles suffice');
    }
  });

  it('has depends_on naming real services, healthchecks where waited on, and no cycle', () => {
    const svc = services(loadCompose());
    const deps = new Map<string, string[]>();
    for (const [name, s] of Object.entries(svc)) {
      const d = s.depends_on;
      const list: string[] = [];
      if (Array.isArray(d)) list.push(...d.map(String));
      else if (isObj(d)) {
        for (const [dep, spec] of Object.entries(d)) {
          list.push(dep);
          assert.ok(isObj(spec), `service ${name}: depends_on.${dep} is a mapping`);
          const cond = spec.condition ?? 'service_started';
          assert.ok(['service_started', 'service_healthy', 'service_completed_successfully'].includes(String(cond)), `service ${name}: condition ${cond}`);
          if (cond === 'service_healthy') assert.ok(isObj(svc[dep]?.healthcheck), `service ${name} waits for ${dep} to be healthy, which has no healthcheck`);
        }
      } else assert.equal(d, undefined, `service ${name}: depends_on is a list or a mapping`);
      for (const dep of list) {
        assert.ok(dep in svc, `service ${name} depends on unknown service ${dep}`);
        assert.notEqual(dep, name);
      }
      deps.set(name, list);
      const hc = s.healthcheck;
      if (hc !== undefined) {
        assert.ok(isObj(hc), `service ${name}: healthcheck is a mapping`);
        const test = hc.test;
        assert.ok(
          typeof test === 'string' || (Array.isArray(test) && ['CMD', 'CMD-SHELL', 'NONE'].includes(String(test[0]))),
          `service ${name}: healthcheck.test starts with CMD, CMD-SHELL or NONE`,
        );
        for (const k of ['interval', 'timeout', 'start_period', 'start_interval']) {
          if (hc[k] !== undefined) assert.match(String(hc[k]), /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/, `service ${name}: healthcheck.${k}`);
        }
      }
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (n: string, trail: string[]) => {
      if (done.has(n)) return;
      assert.ok(!visiting.has(n), `depends_on cycle: ${[...trail, n].join(' -> ')}`);
      visiting.add(n);
      for (const d of deps.get(n) ?? []) visit(d, [...trail, n]);
      visiting.delete(n);
      done.add(n);
    };
    for (const n of deps.keys()) visit(n, []);
    assert.deepEqual(deps.get('tracer')?.sort(), ['example', 'otelcol']);
    assert.deepEqual(deps.get('load')?.sort(), ['example', 'tracer']);
  });

  it('points the tracer at the example binary the example image installs, and at its mounted config', () => {
    const svc = services(loadCompose());
    const t = svc.tracer;
    const entry = t.entrypoint as string[];
    assert.equal(entry[0], '/app/scripts/docker-find-pid.sh');
    // the path the tracer waits for is where the example's Dockerfile puts the binary
    const ex = parseDockerfile(path.join(ROOT, 'examples/otel-http/Dockerfile'));
    assert.equal((svc.example.build as Obj).context, './examples/otel-http');
    const copies = ex.filter((i) => i.op === 'COPY').map((i) => copyArgs(i.args).dest);
    assert.ok(copies.includes(entry[1]), `examples/otel-http/Dockerfile installs ${entry[1]} (it copies to ${copies.join(', ')})`);
    const exEntry = ex.filter((i) => i.op === 'ENTRYPOINT').pop();
    assert.deepEqual(JSON.parse(exEntry!.args), [entry[1]]);
    assert.equal((svc.example.environment as Obj).OTEL_SERVICE_NAME, 'otel-http-example');
    // the config it runs with is the file mounted into the container
    const cmd = t.command as string[];
    const cfg = cmd[cmd.indexOf('--config') + 1];
    assert.equal(cmd[0], 'run');
    assert.ok(((t.volumes as string[]) ?? []).some((v) => v.split(':')[1] === cfg), `${cfg} is mounted from the repository`);
    // and the collector the tracer exports to is a service
    assert.match(String((t.environment as Obj).OTELCOL_ENDPOINT), /^otelcol:\d+$/);
  });

  it("pipeline stage: the example sends its spans to the tracer's otlp receiver, which forwards to otelcol", () => {
    const svc = services(loadCompose());
    const t = svc.tracer;
    const env = t.environment as Obj;
    // the config the tracer runs, loaded by the tracer's own loader with the container's environment
    const cmd = t.command as string[];
    const mount = ((t.volumes as string[]) ?? []).find((v) => v.split(':')[1] === cmd[cmd.indexOf('--config') + 1])!;
    const file = path.join(ROOT, mount.split(':')[0]);
    assert.equal(path.relative(ROOT, file), path.join('config', 'tracer-pipeline.yaml'));
    const { config, warnings } = loadConfigFile(file, Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])));
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.pipelines.traces.receivers, ['mapdelete', 'otlp']);
    assert.ok(config.receivers.otlp, 'receivers.otlp is configured');
    assert.ok(config.receivers.otlp.attach.enabled, 'deletes are attached to the received spans');
    // it listens on every interface of its container (the example is another container: the
    // tracer's loopback would be out of its reach), on the port the example sends to
    const listen = hostPort(config.receivers.otlp.grpc.endpoint);
    assert.equal(listen.host, '0.0.0.0');
    const sendTo = String((svc.example.environment as Obj).OTEL_EXPORTER_OTLP_ENDPOINT);
    assert.match(sendTo, /^http:\/\//, 'plain text, as the receiver serves it');
    assert.deepEqual(hostPort(sendTo), { host: 'tracer', port: listen.port });
    // the default of the file is the compose value too (the image can run it without the variable)
    assert.equal(loadConfigFile(file, {}).config.receivers.otlp!.grpc.endpoint, config.receivers.otlp.grpc.endpoint);
    // and forwards to the collector's OTLP/gRPC receiver (config/otelcol.yaml's default port)
    const otlpExporters = config.exporters.filter((e) => e.type === 'otlp');
    assert.equal(otlpExporters.length, 1);
    const to = hostPort((otlpExporters[0] as { endpoint: string }).endpoint);
    assert.equal(to.host, 'otelcol');
    const otelcol = YAML.parse(fs.readFileSync(path.join(ROOT, 'config', 'otelcol.yaml'), 'utf8')) as { receivers: { otlp: { protocols: { grpc: { endpoint: string } } } } };
    assert.equal(to.port, hostPort(otelcol.receivers.otlp.protocols.grpc.endpoint.replace(/^\$\{env:[A-Z_]+:-(.*)\}$/, '$1')).port);
    assert.ok(((svc.otelcol.volumes as string[]) ?? []).some((v) => v.startsWith('./config/otelcol.yaml:')));
  });

  it('the load tool runs in the example\'s network namespace, against the port the example listens on', () => {
    const svc = services(loadCompose());
    const load = svc.load;
    assert.equal(load.network_mode, 'service:example', 'the load tool talks to loopback addresses only');
    assert.equal(load.image, svc.example.image, "the load tool's image is the example's");
    const ex = parseDockerfile(path.join(ROOT, 'examples/otel-http/Dockerfile'));
    const installed = ex.filter((i) => i.op === 'COPY').map((i) => copyArgs(i.args).dest);
    assert.deepEqual(load.entrypoint, ['/usr/local/bin/load']);
    assert.ok(installed.includes('/usr/local/bin/load'), 'the example image installs the load tool');
    const argOf = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];
    const exAddr = hostPort(argOf(svc.example.command as string[], '-addr'));
    assert.equal(exAddr.host, '0.0.0.0', 'the example listens on every interface of its container (the published port)');
    const target = hostPort(argOf(load.command as string[], '-addr'));
    assert.deepEqual(target, { host: '127.0.0.1', port: exAddr.port });
    assert.deepEqual(svc.example.ports, [`127.0.0.1:${exAddr.port}:${exAddr.port}`]);
  });

  it('is valid for the Compose CLI (`docker compose config --quiet`, no daemon needed)', function () {
    const cli = composeCli();
    if (!cli) {
      if (process.env.CI === 'true') throw new Error('no Compose v2 CLI under CI: scripts/build-compose.sh should have built .cache/tools/docker-compose');
      process.stderr.write(
        '      (no Compose v2 CLI here: `docker compose`, a v2 `docker-compose`, $MDT_DOCKER_COMPOSE or ' +
          '.cache/tools/docker-compose; only the structural checks above ran)\n',
      );
      this.skip();
    }
    const run = (args: string[]) =>
      spawnSync(cli[0], [...cli.slice(1), '-f', COMPOSE_FILE, '--project-directory', ROOT, ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
      });
    const q = run(['config', '--quiet']);
    assert.equal(q.status, 0, `${cli.join(' ')} config --quiet failed:\n${q.stderr}${q.stdout}`);
    const j = run(['config', '--format', 'json']);
    assert.equal(j.status, 0, j.stderr);
    const norm = JSON.parse(j.stdout) as { name: string; services: Record<string, Obj> };
    assert.equal(norm.name, 'map-delete-tracer');
    assert.deepEqual(Object.keys(norm.services).sort(), SERVICES);
    assert.equal(norm.services.load.network_mode, 'service:example');
    assert.equal((norm.services.example.environment as Obj).OTEL_EXPORTER_OTLP_ENDPOINT, 'http://tracer:4317');
    assert.equal(norm.services.tracer.pid, 'host');
    assert.deepEqual(((norm.services.tracer.cap_add as string[]) ?? []).map(capName).sort(), ['BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_PTRACE']);
  });
});

describe('Dockerfiles', () => {
  it('the tracer image copies only files of its build context that .dockerignore keeps', () => {
    const pairs = checkContextCopies(path.join(ROOT, 'Dockerfile'), ROOT);
    assert.ok(pairs.some(([s]) => s === '.'), 'the build stage copies the sources');
  });

  it('.dockerignore keeps every input of `npm run build`', () => {
    const ignore = new DockerIgnore(path.join(ROOT, '.dockerignore'));
    const inputs = ['package.json', 'package-lock.json', 'tsconfig.json', 'bpf/Makefile', 'bpf/map_delete.bpf.c', 'bpf/mdt_event.h', 'addon/binding.gyp'];
    for (const dir of ['receiver', 'addon/src']) inputs.push(...walk(ROOT, dir));
    for (const f of inputs) {
      assert.ok(fs.existsSync(path.join(ROOT, f)), `${f} exists`);
      assert.ok(!ignore.excludes(f), `.dockerignore excludes ${f}, which the image build needs`);
    }
    for (const f of ['node_modules/yaml/package.json', 'dist/receiver/cli.js', '.git/HEAD', 'addon/build/Release/mdt_native.node', 'bpf/build/map_delete.bpf.o']) {
      assert.ok(ignore.excludes(f), `.dockerignore keeps local build output ${f} out of the context`);
    }
  });

  it('the tracer image: pinned bookworm stages, the build toolchain, and a runtime holding what the receiver loads', () => {
    const st = stages(parseDockerfile(path.join(ROOT, 'Dockerfile')));
    for (const s of st) {
      assertPinned(s.image, `Dockerfile stage ${s.name ?? '(runtime)'}`);
      assert.match(s.image, /bookworm/, `stage ${s.name ?? '(runtime)'} is Debian 12 based (the addon links Debian 12's libbpf1)`);
    }
    const text = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op).map((i) => i.args).join('\n');
    const build = st.find((s) => s.name === 'build');
    assert.ok(build, 'a stage named build');
    for (const p of ['clang-16', 'libbpf-dev', 'libelf-dev', 'zlib1g-dev', 'pkg-config', 'make', 'g++', 'python3']) {
      assert.match(text(build, 'RUN'), new RegExp(`\\s${p.replace(/[+]/g, '\\+')}(\\s|$)`), `build stage installs ${p}`);
    }
    assert.match(text(build, 'RUN'), /npm ci --ignore-scripts/);
    assert.match(text(build, 'RUN'), /npm run build/);

    const runtime = st[st.length - 1];
    assert.equal(runtime.name, undefined, 'the last stage is the runtime image');
    for (const p of ['libbpf1', 'libelf1', 'zlib1g']) assert.match(text(runtime, 'RUN'), new RegExp(`\\s${p}(\\s|$)`), `runtime installs ${p}`);
    assert.doesNotMatch(text(runtime, 'RUN'), /clang|-dev\b|g\+\+/, 'no build tools in the runtime image');
    const copies = runtime.instructions.filter((i) => i.op === 'COPY').map((i) => copyArgs(i.args));
    const fromBuild = copies.filter((c) => c.flags.get('from') === 'build').flatMap((c) => c.srcs.map((s) => path.posix.relative('/app', s)));
    // exactly the paths the receiver loads at run time
    const bpfRel = path.relative(ROOT, bpfObjectPath()).split(path.sep).join('/');
    assert.ok(fromBuild.includes(bpfRel), `runtime has ${bpfRel} (receiver/util/paths.ts)`);
    assert.ok(fromBuild.includes('addon/build/Release/mdt_native.node'), 'runtime has the addon (receiver/native.ts)');
    assert.ok(fromBuild.includes('dist/receiver'), 'runtime has the compiled receiver');
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    assert.equal(pkg.bin['map-delete-tracer'], 'dist/receiver/cli.js');
    assert.ok(copies.some((c) => c.srcs.includes('package.json')), 'runtime has package.json (marks the package root)');
    assert.ok(copies.some((c) => c.flags.get('from') === 'deps'), 'runtime node_modules come from the production-only stage');
    const deps = st.find((s) => s.name === 'deps');
    assert.match(text(deps!, 'RUN'), /npm ci --omit=dev --ignore-scripts/);
    assert.ok(copies.some((c) => c.srcs.includes('scripts/docker-find-pid.sh') && c.dest === './scripts/docker-find-pid.sh'));
    assert.equal(text(runtime, 'WORKDIR'), '/app');

    assert.deepEqual(JSON.parse(text(runtime, 'ENTRYPOINT')), ['node', '/app/dist/receiver/cli.js']);
    assert.deepEqual(JSON.parse(text(runtime, 'CMD')), ['run', '--config', '/etc/map-delete-tracer/tracer.yaml']);
    assert.ok(copies.some((c) => c.dest === '/etc/map-delete-tracer/tracer.yaml'), 'the default config is in the image');
  });

  it('the otel-http example image builds from files that exist, with a Go that its go.mod accepts', () => {
    const ctx = path.join(ROOT, 'examples/otel-http');
    const pairs = checkContextCopies(path.join(ctx, 'Dockerfile'), ctx);
    // everything `go build . ./cmd/load` needs: the module files, the package's sources, the load tool
    const srcs = pairs.map(([src]) => src);
    for (const f of ['go.mod', 'go.sum', '*.go', 'cmd/load']) assert.ok(srcs.includes(f), `COPY ${f}`);
    const goFiles = fs.readdirSync(ctx).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'));
    assert.ok(goFiles.includes('main.go') && goFiles.includes('store.go'), goFiles.join(' '));
    const st = stages(parseDockerfile(path.join(ctx, 'Dockerfile')));
    for (const s of st) assertPinned(s.image, `examples/otel-http/Dockerfile stage ${s.name ?? '(runtime)'}`);
    // the toolchain image is at least the `go` line of go.mod (GOTOOLCHAIN=local in golang images)
    const goLine = /^go (\d+)\.(\d+)(?:\.(\d+))?$/m.exec(fs.readFileSync(path.join(ctx, 'go.mod'), 'utf8'));
    const img = /^golang:(\d+)\.(\d+)(?:\.(\d+))?-/.exec(st[0].image);
    assert.ok(goLine && img, `go.mod's go line and the build image ${st[0].image}`);
    const v = (m: RegExpExecArray) => [1, 2, 3].map((i) => Number(m[i] ?? 0));
    const [a, b] = [v(img), v(goLine)];
    assert.ok(a[0] > b[0] || (a[0] === b[0] && (a[1] > b[1] || (a[1] === b[1] && a[2] >= b[2]))), `${st[0].image} is older than go.mod's go ${b.join('.')}`);
    const runtime = st[st.length - 1];
    const copy = runtime.instructions.filter((i) => i.op === 'COPY').map((i) => copyArgs(i.args));
    for (const dest of ['/usr/local/bin/otel-http-example', '/usr/local/bin/load']) assert.ok(copy.some((c) => c.dest === dest), `runtime has ${dest}`);
    const user = runtime.instructions.filter((i) => i.op === 'USER').pop();
    assert.ok(user && !/^(0|root)(:|$)/.test(user.args), 'the example runs as an unprivileged user');
    const entry = runtime.instructions.filter((i) => i.op === 'ENTRYPOINT').pop();
    assert.deepEqual(JSON.parse(entry!.args), ['/usr/local/bin/otel-http-example']);
  });

  it('the sessions example image (examples/sessions, outside the compose file) copies only files that exist', () => {
    const ctx = path.join(ROOT, 'examples/sessions');
    const pairs = checkContextCopies(path.join(ctx, 'Dockerfile'), ctx);
    assert.ok(pairs.some(([s]) => s === 'go.mod'));
    const st = stages(parseDockerfile(path.join(ctx, 'Dockerfile')));
    for (const s of st) assertPinned(s.image, `examples/sessions/Dockerfile stage ${s.name ?? '(runtime)'}`);
    const runtime = st[st.length - 1];
    const copy = runtime.instructions.filter((i) => i.op === 'COPY').map((i) => copyArgs(i.args));
    assert.ok(copy.some((c) => c.dest === '/usr/local/bin/sessions'));
  });
});

describe('scripts/docker-find-pid.sh', () => {
  const script = path.join(ROOT, 'scripts/docker-find-pid.sh');
  let dir: string;
  let target: ChildProcess | undefined;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-findpid-'));
    // a process whose executable has a name nothing else on the machine has
    const exe = path.join(dir, `mdt-target-${process.pid}`);
    fs.copyFileSync(execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim(), exe);
    fs.chmodSync(exe, 0o755);
    target = spawn(exe, ['60'], { stdio: 'ignore' });
  });
  after(() => {
    target?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync('bash', [script, ...args], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, MDT_TRACER: 'echo TRACER', MDT_POLL_SECONDS: '0.2', ...env },
    });

  it('is executable (the compose entrypoint runs it directly)', () => {
    assert.ok(fs.statSync(script).mode & 0o111);
  });

  it('finds the process by full executable path and by base name, and appends --pid', () => {
    const exe = path.join(dir, `mdt-target-${process.pid}`);
    const byPath = run([exe, 'run', '--config', 'x.yaml']);
    assert.equal(byPath.status, 0, byPath.stderr);
    assert.equal(byPath.stdout.trim(), `TRACER run --config x.yaml --pid ${target!.pid}`);
    const byName = run([path.basename(exe), 'run']);
    assert.equal(byName.stdout.trim(), `TRACER run --pid ${target!.pid}`);
    assert.match(byName.stderr, new RegExp(`running as PID ${target!.pid}`));
  });

  it('waits, then gives up with exit 3 and a hint', () => {
    const r = run([`/no/such/mdt-exe-${process.pid}`, 'run'], { MDT_WAIT_SECONDS: '1' });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /waiting for a process running/);
    assert.match(r.stderr, /no process running .* after 1s/);
    assert.equal(r.stdout, '');
  });

  it('rejects a bad MDT_WAIT_SECONDS and a missing argument', () => {
    assert.equal(run(['x'], { MDT_WAIT_SECONDS: 'soon' }).status, 2);
    assert.equal(run([]).status, 2);
  });
});
