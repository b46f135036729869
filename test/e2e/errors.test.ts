/**
 * Bad input: each is one line on stderr naming the problem and the fix, a non-zero exit, and
 * never a stack trace.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadFixtureManifest, startFixture } from '../helpers/fixtures';
import { requireBpf } from '../helpers/bpf';
import { runCli } from '../helpers/tracer';
import { ElfFile } from '../../receiver/golang/elf';

async function expectOneLineError(args: string[], pattern: RegExp, opts: Parameters<typeof runCli>[1] = {}) {
  const run = runCli(args, opts);
  const { code, stderr, stdout } = await run.exited;
  assert.notEqual(code, 0, 'non-zero exit');
  const lines = stderr.filter((l) => l.trim());
  assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${stderr.join('\n')}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(lines[0], /\n\s+at /);
  assert.deepEqual(stdout.filter((l) => l.trim()), []);
  return lines[0];
}

function unusedPid(): number {
  const max = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  for (let pid = max - 1; pid > 1; pid--) if (!fs.existsSync(`/proc/${pid}`)) return pid;
  throw new Error('no free pid');
}

function newestPlainBuild() {
  const plain = loadFixtureManifest().filter((b) => b.mode === 'plain' && !b.experiment);
  plain.sort((a, b) => a.go.localeCompare(b.go, 'en', { numeric: true }));
  return plain[plain.length - 1];
}

describe('bad input', function () {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-errors-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('a PID that does not exist', async function () {
    const pid = unusedPid();
    await expectOneLineError(['watch', '--pid', String(pid)], new RegExp(`no process with PID ${pid}`));
  });

  it('a non-Go executable', async function () {
    await expectOneLineError(['watch', '--exe', '/bin/ls'], /\/bin\/ls.*not a Go program/);
    await expectOneLineError(['inspect', '/bin/ls'], /not a Go program/);
  });

  it('a file that does not exist, and a malformed flag', async function () {
    await expectOneLineError(['watch', '--exe', path.join(tmp, 'nope')], /no such file/);
    await expectOneLineError(['watch', '--pid', 'abc'], /--pid expects a number/);
    await expectOneLineError(['watch', '--pid', '1', '--format', 'xml'], /--format must be one of text, json/);
    await expectOneLineError(['watch'], /nothing to trace: pass --pid PID or --exe PATH/);
    await expectOneLineError(['frobnicate'], /unknown command "frobnicate"/);
  });

  it('a Go binary older than 1.18', async function () {
    // Go before 1.18 wrote a different pclntab (magic 0xfffffffa) and version; rewrite a real build that way.
    const build = newestPlainBuild();
    const old = path.join(tmp, 'old-go');
    const bytes = fs.readFileSync(build.path);
    const elf = new ElfFile(bytes);
    const pcln = elf.section('.gopclntab');
    assert.ok(pcln, 'fixture has .gopclntab');
    bytes.writeUInt32LE(0xfffffffa, pcln.offset);
    const bi = elf.section('.go.buildinfo')!;
    const at = bytes.indexOf('go1.', bi.offset);
    bytes.write('go1.16', at, 'latin1'); // go1.2x.y -> go1.16.y: same length
    fs.writeFileSync(old, bytes, { mode: 0o755 });
    await expectOneLineError(['inspect', old], /Go 1\.18 or newer/);
    await expectOneLineError(['watch', '--exe', old], /Go 1\.18 or newer/);
  });

  it('not enough privilege names the missing capabilities', async function () {
    requireBpf(this);
    const build = newestPlainBuild();
    const copy = path.join(tmp, 'deleter');
    fs.copyFileSync(build.path, copy);
    fs.chmodSync(tmp, 0o755);
    fs.chmodSync(copy, 0o755);
    const line = await expectOneLineError(['watch', '--exe', copy], /CAP_BPF.*CAP_PERFMON|not enough privilege/, {
      wrap: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'],
    });
    assert.match(line, /setcap|root/);
  });

  it('CAP_BPF and CAP_PERFMON without CAP_SYS_ADMIN: the uprobe refusal says what the kernel wants', async function () {
    requireBpf(this);
    const fx = await startFixture(newestPlainBuild().path, []);
    try {
      const line = await expectOneLineError(['watch', '--pid', String(fx.pid)], /attaching uprobes to PID \d+ was refused .*CAP_SYS_ADMIN/, {
        wrap: ['setpriv', '--bounding-set=-all,+bpf,+perfmon,+sys_ptrace,+dac_read_search', '--inh-caps=-all', '--'],
      });
      assert.match(line, /CVE-2025-38466|grant CAP_SYS_ADMIN/);
      assert.ok(fs.existsSync(`/proc/${fx.pid}`), 'the target is untouched');
    } finally {
      fx.kill();
    }
  });

  it('a process that exits during attach', async function () {
    requireBpf(this);
    const fx = await startFixture(newestPlainBuild().path, []);
    const run = runCli(['watch', '--pid', String(fx.pid)], { env: { MAP_DELETE_TRACER_TEST_PAUSE_BEFORE_ATTACH_MS: '3000' } });
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (run.stderr.some((l) => /test hook: pausing/.test(l))) {
          clearInterval(t);
          resolve();
        }
        if (run.proc.exitCode !== null) {
          clearInterval(t);
          reject(new Error(run.stderr.join('\n')));
        }
      }, 20);
    });
    fx.kill();
    await fx.exited;
    const { code, stderr } = await run.exited;
    assert.notEqual(code, 0);
    const errors = stderr.filter((l) => !/test hook/.test(l) && l.trim());
    assert.equal(errors.length, 1, stderr.join('\n'));
    assert.match(errors[0], new RegExp(`process ${fx.pid} exited while attaching`));
  });
});
