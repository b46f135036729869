/**
 * A CounterSource that is a plain object: rows set by the test, for the exposition layer
 * (receiver/metrics/) without BPF. Counts only grow unless the test says otherwise.
 */
import type { CounterSource, DeleteCountRow, DurationHistogram, KeyActivityRow, MapActivityRow, TracerHealth } from '../../receiver/metrics/source';

export const HEALTH: TracerHealth = {
  eventsLost: 0n,
  ringBufferBytes: 1 << 20,
  ringBufferUsedBytes: 0,
  probesAttached: 5,
  attachErrors: 0,
  tracedProcesses: 1,
  counterOverflow: 0n,
};

export class FakeCounterSource implements CounterSource {
  counts: DeleteCountRow[] = [];
  maps: MapActivityRow[] = [];
  keys: KeyActivityRow[] = [];
  healthNow: TracerHealth = { ...HEALTH };
  histograms?: DurationHistogram[];
  /** How many times each table was read. */
  reads = { counts: 0, maps: 0, health: 0 };

  deleteCounts(): DeleteCountRow[] {
    this.reads.counts++;
    return this.counts.map((r) => ({ ...r }));
  }

  mapActivity(): MapActivityRow[] {
    this.reads.maps++;
    return this.maps.map((r) => ({ ...r }));
  }

  keyActivity(): KeyActivityRow[] {
    return this.keys.map((r) => ({ ...r }));
  }

  health(): TracerHealth {
    this.reads.health++;
    return { ...this.healthNow };
  }

  get durations(): (() => DurationHistogram[]) | undefined {
    const h = this.histograms;
    return h ? () => h : undefined;
  }

  /** A call-site row (delete unless said otherwise); returns it so the test can grow its count. */
  site(r: Partial<DeleteCountRow> & { caller: string; count: bigint }): DeleteCountRow {
    const row: DeleteCountRow = {
      pid: 100,
      service: 'svc',
      op: 'delete',
      mapType: 'map[string]int',
      callerFunction: `main.f_${r.caller.replace(/\W/g, '_')}`,
      ...r,
    };
    this.counts.push(row);
    return row;
  }

  map(r: Partial<MapActivityRow> & { mapAddr: string }): MapActivityRow {
    const row: MapActivityRow = {
      pid: 100,
      service: 'svc',
      mapType: 'map[string]int',
      deletes: 0n,
      clears: 0n,
      lastLen: null,
      maxClearLen: null,
      lastSeen: 0n,
      ...r,
    };
    this.maps.push(row);
    return row;
  }
}

/** A sample of an exposition: `name{a="b"} 1`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (what the tests need of it: samples, HELP and TYPE). */
export function parseExposition(text: string): { samples: Sample[]; types: Map<string, string>; helps: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m) {
      types.set(m[1], m[2]);
      continue;
    }
    m = /^# HELP (\S+) (.*)$/.exec(line);
    if (m) {
      helps.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
      let lm: RegExpExecArray | null;
      let end = 0;
      while ((lm = re.exec(m[2]))) {
        labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
        end = re.lastIndex;
      }
      if (end !== m[2].length) throw new Error(`bad labels in ${JSON.stringify(line)}`);
    }
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1], labels, value: v });
  }
  return { samples, types, helps };
}

/** The samples of one name whose labels include `match`. */
export function pick(samples: Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}
