/** Key redaction (receiver/events/redact.ts), its config key and its flag's argument checks. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { REDACTED, RedactPatternError, compileRedactor } from '../../receiver/events/redact';
import { CLI } from '../helpers/tracer';
import { load, loadError, withReceiver } from './config-helpers';

describe('key redaction', () => {
  it('replaces every matching part, pattern after pattern, and leaves the rest', () => {
    const r = compileRedactor(['[0-9]{4}', 'token-[a-z]+'])!;
    assert.equal(r('card 1234 5678 token-abc, tail'), `card ${REDACTED} ${REDACTED} ${REDACTED}, tail`);
    assert.equal(r('nothing here'), 'nothing here');
    assert.equal(compileRedactor(['.*'])!('alice@example.com'), REDACTED, '".*" hides the whole value');
    assert.equal(compileRedactor([])?.('x'), undefined, 'no patterns: no redactor');
  });

  it('a pattern that can match nothing does not sprinkle the value', () => {
    assert.equal(compileRedactor(['x*'])!('abxxc'), `ab${REDACTED}c`);
  });

  it('refuses an empty pattern and one that is not a regular expression, naming which', () => {
    assert.throws(() => compileRedactor(['ok', '']), (e: RedactPatternError) => e.index === 1 && /empty pattern would match every key/.test(e.message));
    assert.throws(() => compileRedactor(['([a-z]']), (e: RedactPatternError) => e.index === 0 && /^not a regular expression: /.test(e.message) && !e.message.includes('\n'));
  });

  it('config: receivers.mapdelete.redact_keys, checked at FILE:LINE:COL', () => {
    const ok = load(withReceiver('    capture_keys: true\n    redact_keys: ["^[0-9]+$", "secret"]\n'));
    assert.deepEqual(ok.config.receivers.mapdelete.redactKeys, ['^[0-9]+$', 'secret']);
    assert.deepEqual(ok.warnings, []);
    assert.deepEqual(load(withReceiver('')).config.receivers.mapdelete.redactKeys, []);
    const bad = loadError(withReceiver('    capture_keys: true\n    redact_keys: ["fine", "(unclosed"]\n'));
    assert.match(bad.message, /^tracer\.yaml:4:27: receivers\.mapdelete\.redact_keys\[1\]: not a regular expression: Unterminated group$/);
    const unused = load(withReceiver('    redact_keys: ["x"]\n'));
    assert.deepEqual(unused.warnings, ['tracer.yaml:3:18: receivers.mapdelete.redact_keys: has no effect: key values are not captured (capture_keys: false), so none leave the kernel']);
  });

  it('watch: --redact-key without --capture-keys, or a bad pattern: one line, exit 2', () => {
    for (const [args, re] of [
      [['--redact-key', 'x'], /^map-delete-tracer: watch: --redact-key needs --capture-keys/],
      [['--capture-keys', '--redact-key', '(x'], /^map-delete-tracer: watch: --redact-key "\(x": not a regular expression: Unterminated group$/],
    ] as const) {
      assert.throws(
        () => execFileSync(process.execPath, [CLI, 'watch', '--pid', String(process.pid), ...args], { stdio: 'pipe' }),
        (e: { status: number; stderr: Buffer }) => {
          const err = e.stderr.toString().trim();
          assert.equal(e.status, 2, err);
          assert.match(err, re);
          assert.ok(!err.includes('\n'), err);
          return true;
        },
      );
    }
  });
});
