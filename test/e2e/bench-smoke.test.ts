/**
 * `npm run bench -- --quick` end to end (~2.5 min on the 2-core VM): every part runs, the exit
 * status is 0, and the summary it writes has the schema bench/summary.ts defines. Checks the
 * harness, never a number: timings are not asserted.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { requireBpf } from '../helpers/bpf';
import { LOOP_CASES, LOOP_SETTINGS, validateSummary } from '../../bench/summary';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SUITE = path.join(ROOT, 'dist', 'bench', 'suite.js');

describe('benchmark suite (npm run bench -- --quick)', function () {
  this.timeout(420_000);

  it('runs every part and writes a summary with the documented schema', async function () {
    requireBpf(this);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-bench-'));
    const latest = path.join(ROOT, 'bench', 'results', 'latest.json');
    const latestBefore = fs.existsSync(latest) ? fs.statSync(latest).mtimeMs : undefined;
    const child = spawn(process.execPath, [SUITE, '--quick', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    assert.equal(code, 0, `exit ${code}\n${stderr.slice(-3000)}`);

    const summary = JSON.parse(fs.readFileSync(path.join(out, 'quick.json'), 'utf8'));
    assert.deepEqual(validateSummary(summary), []);
    assert.equal(summary.quick, true);
    assert.deepEqual(summary.errors.filter((e: { message: string }) => !/bpftrace is not installed/.test(e.message)), []);
    for (const part of ['delete_loop', 'capacity', 'service', 'span_tracking']) assert.equal(summary[part].skipped, undefined, `${part} ran`);
    for (const c of LOOP_CASES) {
      for (const { id } of LOOP_SETTINGS) {
        if (id === 'bpftrace' && summary.machine.bpftrace === null) continue;
        assert.equal(typeof summary.delete_loop.cases[c][id].ns_per_delete, 'number', `${c}/${id} measured`);
      }
    }
    assert.ok(summary.capacity.full_events.trials.length > 0);
    assert.ok(summary.service.runs.length >= 3);
    // The table went to stdout; a quick run leaves the committed results alone.
    assert.match(stdout, /1\. Go delete loop/);
    assert.match(stdout, /3\. examples\/otel-http/);
    assert.ok(fs.existsSync(path.join(out, 'span-tracking-quick.json')));
    assert.equal(fs.existsSync(latest) ? fs.statSync(latest).mtimeMs : undefined, latestBefore);
    fs.rmSync(out, { recursive: true, force: true });
  });
});
