/**
 * Builds the Go programs under test/unit/golang-testdata with many toolchains and modes, and
 * runs them once to capture what the Go runtime itself reports about the binary (the ground
 * truth the receiver/golang tests compare against). Builds and reports are cached under
 * .cache/golang-unit/, keyed by a hash of the sources + toolchain + mode, so warm runs only read.
 *
 * This file holds helpers (imported by the other golang*.test.ts files) and the one test that the
 * toolchains of the matrix are usable.
 *
 * Knobs: GOLANG_UNIT_TOOLCHAINS=go1.22.12,local restricts the matrix; CI=true turns an
 * unavailable toolchain into a failure instead of a skip.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../receiver/util/paths';

export type BuildMode = 'plain' | 'stripped' | 'pie' | 'cgo';

export interface BuildSpec {
  /** "go1.22.12", or "local" for the machine's Go. */
  toolchain: string;
  mode: BuildMode;
  /** GOEXPERIMENT value, e.g. "noswissmap". */
  experiment?: string;
  /** Cross-compile (GOARCH), for the wrong-architecture tests. */
  goarch?: string;
}

export interface Built {
  spec: BuildSpec;
  /** `go version` of the toolchain actually used. */
  goVersion: string;
  path: string;
}

/** What test/unit/golang-testdata/maps prints (see its main.go). */
export interface MapsReport {
  version: string;
  anchor: number;
  maps: { type: string; addr: number; len: number }[];
  stacks: { pcs: number[]; frames: { function: string; file: string; line: number; inlined: boolean }[] }[];
  g: { goid: number; parentGoid: number; words: number[] };
  cgo: boolean;
}

export const TOOLCHAINS = [
  'go1.18.10',
  'go1.19.13',
  'go1.20.14',
  'go1.21.13',
  'go1.22.12',
  'go1.23.12',
  'go1.24.13',
  'go1.25.14',
  'local',
  'go1.27.4',
];
export const MODES: BuildMode[] = ['plain', 'stripped', 'pie', 'cgo'];
/** Classic maps are still selectable in these (Swiss tables became the default in 1.24). */
export const NOSWISS_TOOLCHAINS = ['go1.24.13', 'go1.25.14'];

export function matrix(): BuildSpec[] {
  const only = process.env.GOLANG_UNIT_TOOLCHAINS?.split(',').map((s) => s.trim()).filter(Boolean);
  const specs: BuildSpec[] = [];
  for (const toolchain of TOOLCHAINS) {
    if (only && !only.includes(toolchain)) continue;
    for (const mode of MODES) specs.push({ toolchain, mode });
    if (NOSWISS_TOOLCHAINS.includes(toolchain)) for (const mode of MODES) specs.push({ toolchain, mode, experiment: 'noswissmap' });
  }
  return specs;
}

export function specName(s: BuildSpec): string {
  return `${s.toolchain}${s.experiment ? `-${s.experiment}` : ''}${s.goarch ? `-${s.goarch}` : ''}-${s.mode}`;
}

export function goCommand(): string {
  return fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
}

function cacheRoot(): string {
  return path.join(packageRoot(), '.cache', 'golang-unit');
}

function testdata(prog: string): string {
  return path.join(packageRoot(), 'test', 'unit', 'golang-testdata', prog);
}

function sourceHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        h.update(path.relative(dir, p) + '\0');
        h.update(fs.readFileSync(p));
      }
    }
  };
  walk(dir);
  return h.digest('hex').slice(0, 12);
}

function goEnv(spec: BuildSpec): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GOTOOLCHAIN: spec.toolchain, GOWORK: 'off', GO111MODULE: 'on' };
  // -buildvcs does not exist before Go 1.18 and makes old toolchains refuse to start, also when
  // it comes from the go env file; a non-empty GOFLAGS overrides that file (-mod=readonly is the
  // default anyway).
  env.GOFLAGS = /^go1\.(1[0-7]|[0-9])(\.|$)/.test(spec.toolchain) ? '-mod=readonly' : '-buildvcs=false';
  env.CGO_ENABLED = spec.mode === 'cgo' ? '1' : '0';
  if (spec.goarch) env.GOARCH = spec.goarch;
  else delete env.GOARCH;
  if (spec.experiment) env.GOEXPERIMENT = spec.experiment;
  else delete env.GOEXPERIMENT;
  return env;
}

/** Thrown when a toolchain cannot be downloaded or run; tests skip on it unless CI=true. */
export class ToolchainUnavailable extends Error {}

const versionCache = new Map<string, string>();

/** "go1.22.12" for a toolchain spec, fetching it through the module proxy if needed. */
export function toolchainVersion(toolchain: string): string {
  const hit = versionCache.get(toolchain);
  if (hit) return hit;
  const r = spawnSync(goCommand(), ['env', 'GOVERSION'], { env: goEnv({ toolchain, mode: 'plain' }), encoding: 'utf8', timeout: 600_000 });
  const v = r.stdout?.trim().split(/\s/)[0];
  if (r.status !== 0 || !v?.startsWith('go')) {
    throw new ToolchainUnavailable(
      `Go toolchain ${toolchain} cannot be fetched or run (GOTOOLCHAIN=${toolchain} go env GOVERSION: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()?.trim()}); check that the version exists and the Go module proxy is reachable`,
    );
  }
  versionCache.set(toolchain, v);
  return v;
}

/** Builds test/unit/golang-testdata/<prog> for spec, or returns the cached build. */
export function buildGo(prog: string, spec: BuildSpec): Built {
  const src = testdata(prog);
  const goVersion = toolchainVersion(spec.toolchain);
  const dir = path.join(cacheRoot(), `${prog}-${sourceHash(src)}`, specName({ ...spec, toolchain: goVersion }));
  const out = path.join(dir, prog);
  if (fs.existsSync(out)) return { spec, goVersion, path: out };
  // Build from a private copy so that nothing the build does can touch the sources.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'golang-unit-'));
  try {
    fs.cpSync(src, tmp, { recursive: true });
    const args = ['build', '-o', path.join(tmp, 'out.bin')];
    if (spec.mode === 'stripped') args.push('-ldflags=-s -w');
    if (spec.mode === 'pie') args.push('-buildmode=pie');
    args.push('.');
    const r = spawnSync(goCommand(), args, { cwd: tmp, env: goEnv(spec), encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`go build for ${prog} ${specName(spec)} failed: ${r.stderr || r.error?.message}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.renameSync(path.join(tmp, 'out.bin'), out);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { spec, goVersion, path: out };
}

/** Runs a built golang-testdata/maps binary once (cached) and returns its report. */
export function mapsReport(b: Built): MapsReport {
  return runReport<MapsReport>(b);
}

/** Runs a built golang-testdata program once (cached next to it) and parses its JSON stdout. */
export function runReport<T>(b: Built): T {
  const file = b.path + '.report.json';
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  const r = spawnSync(b.path, [], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${b.path} exited with ${r.status}: ${r.stderr}`);
  JSON.parse(r.stdout);
  fs.writeFileSync(file, r.stdout);
  return JSON.parse(r.stdout) as T;
}

/**
 * Mocha glue: build in a before() hook; an unavailable toolchain fails under CI=true and skips
 * (with the reason printed) otherwise.
 */
export function buildOrSkip(ctx: Mocha.Context, prog: string, spec: BuildSpec): Built {
  try {
    return buildGo(prog, spec);
  } catch (err) {
    if (err instanceof ToolchainUnavailable && process.env.CI !== 'true') {
      console.log(`      skipping ${specName(spec)}: ${err.message}`);
      ctx.skip();
    }
    throw err;
  }
}

// Guarded so that tools outside mocha (test/fuzz) can import the build helpers above.
if (typeof describe === 'function') describe('golang test fixtures', function () {
  this.timeout(900_000);
  it('every toolchain of the matrix is available (CI=true fails otherwise)', function () {
    const missing: string[] = [];
    for (const t of new Set(matrix().map((s) => s.toolchain))) {
      try {
        toolchainVersion(t);
      } catch (err) {
        if (!(err instanceof ToolchainUnavailable)) throw err;
        missing.push(err.message);
      }
    }
    if (missing.length && process.env.CI !== 'true') {
      console.log(`      ${missing.join('\n      ')}`);
      this.skip();
    }
    assert.deepEqual(missing, []);
  });
});
