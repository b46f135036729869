/**
 * The seed binaries: real Go programs built by the unit tests' helpers and caches (no toolchain
 * is downloaded when the unit-test matrix has already been built), so that mutations start from
 * everything the parsers meet in practice.
 *
 *   maps-*       test/unit/golang-testdata/maps (golang-fixtures.test.ts buildGo, .cache/golang-unit)
 *   otel-http-*  examples/otel-http (scripts/build-examples.sh, .cache/examples): DWARF of the
 *                OpenTelemetry SDK structs, the SDK's functions, a large binary
 */
import { BuildSpec, ToolchainUnavailable, buildGo } from '../unit/golang-fixtures.test';
import { buildOtelHttp } from '../helpers/otel-http';

export interface SeedSpec {
  label: string;
  path: string;
}

interface SeedChoice {
  label: string;
  what: string;
  build: () => string;
}

const maps = (spec: BuildSpec) => () => buildGo('maps', spec).path;

export const SEED_CHOICES: readonly SeedChoice[] = [
  { label: 'maps-local-plain', what: "machine's Go (Swiss maps), DWARF with SHF_COMPRESSED sections", build: maps({ toolchain: 'local', mode: 'plain' }) },
  { label: 'maps-local-stripped', what: "machine's Go, -ldflags='-s -w': no symbols, no DWARF", build: maps({ toolchain: 'local', mode: 'stripped' }) },
  { label: 'maps-local-pie', what: "machine's Go, -buildmode=pie: relocations", build: maps({ toolchain: 'local', mode: 'pie' }) },
  { label: 'maps-local-cgo', what: "machine's Go, cgo: external linker, gcc's DWARF 5", build: maps({ toolchain: 'local', mode: 'cgo' }) },
  { label: 'maps-go1.24-noswissmap', what: 'classic maps (GOEXPERIMENT=noswissmap)', build: maps({ toolchain: 'go1.24.13', mode: 'plain', experiment: 'noswissmap' }) },
  { label: 'maps-go1.18', what: 'oldest supported: 1.18 pclntab magic, 20-byte inline entries, .zdebug sections', build: maps({ toolchain: 'go1.18.10', mode: 'plain' }) },
  { label: 'maps-go1.27', what: 'typelinks by typedesclen walk', build: maps({ toolchain: 'go1.27.4', mode: 'plain' }) },
  { label: 'otel-http-plain', what: 'examples/otel-http: OpenTelemetry SDK with DWARF', build: () => buildOtelHttp().plain },
  { label: 'otel-http-stripped', what: 'examples/otel-http stripped: SDK offsets from the table', build: () => buildOtelHttp().stripped },
];

/** What the short CI run uses: plain, stripped, PIE, classic maps and the OTel SDK. */
export const CI_SEEDS = ['maps-local-plain', 'maps-local-stripped', 'maps-local-pie', 'maps-go1.24-noswissmap', 'otel-http-plain'];

/**
 * Builds (or finds cached) the seeds whose label contains one of `filters` (all when empty).
 * A seed whose toolchain cannot be fetched is skipped with a note, unless `strict`.
 */
export function resolveSeeds(filters: readonly string[], log: (s: string) => void, strict = false): SeedSpec[] {
  const out: SeedSpec[] = [];
  for (const c of SEED_CHOICES) {
    if (filters.length && !filters.some((f) => c.label === f || c.label.includes(f))) continue;
    try {
      out.push({ label: c.label, path: c.build() });
    } catch (err) {
      if (strict || !(err instanceof ToolchainUnavailable || /build-examples|go build/.test(String(err)))) throw err;
      log(`seed ${c.label} skipped: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}
