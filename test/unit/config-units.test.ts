/** The config loader's small parts: durations, substitution, suggestions, endpoints. */
import { strict as assert } from 'node:assert';
import { formatDuration, parseDuration } from '../../receiver/config/duration';
import { ExpansionError, expandEnv } from '../../receiver/config/substitute';
import { closest, editDistance } from '../../receiver/config/suggest';
import { isLocalHost, parseEndpoint } from '../../receiver/config/exporters';

describe('config parts: Go durations', () => {
  it('parses what time.ParseDuration parses, in milliseconds', () => {
    const ok: [string, number][] = [
      ['0', 0],
      ['0s', 0],
      ['500ms', 500],
      ['1s', 1000],
      ['1.5s', 1500],
      ['.5s', 500],
      ['1m30s', 90_000],
      ['2h45m', 9_900_000],
      ['1500us', 1.5],
      ['1500µs', 1.5],
      ['2000000ns', 2],
      ['+1s', 1000],
    ];
    for (const [text, ms] of ok) assert.equal(parseDuration(text), ms, text);
  });
  it('refuses everything else', () => {
    for (const bad of ['', '1', '10', 's', '1 s', '1sec', '-1s', '1d', '1.2.3s', 'ms', '+']) assert.equal(parseDuration(bad), undefined, bad);
  });
  it('formats milliseconds back', () => {
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(1500), '1.5s');
    assert.equal(formatDuration(30_000), '30s');
    assert.equal(formatDuration(300_000), '5m');
    assert.equal(formatDuration(3_600_000), '1h');
  });
});

describe('config parts: ${env:…} expansion', () => {
  const env = { A: 'x', EMPTY: '' };
  it('expands and reports the references', () => {
    assert.deepEqual(expandEnv('${env:A}-${env:B:-y}', env), { value: 'x-y', references: ['${env:A}', '${env:B:-y}'] });
    assert.deepEqual(expandEnv('${env:EMPTY}', env), { value: '', references: ['${env:EMPTY}'] });
    assert.deepEqual(expandEnv('${env:EMPTY:-d}', env), { value: 'd', references: ['${env:EMPTY:-d}'] });
    assert.deepEqual(expandEnv('${env:B:-}', env), { value: '', references: ['${env:B:-}'] });
    assert.deepEqual(expandEnv('${env:B:-a:b-c}', env), { value: 'a:b-c', references: ['${env:B:-a:b-c}'] });
  });
  it('$$ escapes, a lone $ stays', () => {
    assert.deepEqual(expandEnv('$$', env), { value: '$', references: [] });
    assert.deepEqual(expandEnv('$${env:A}', env), { value: '${env:A}', references: [] });
    assert.deepEqual(expandEnv('$$$${env:A}', env), { value: '$${env:A}', references: [] });
    assert.deepEqual(expandEnv('$$${env:A}', env), { value: '$x', references: ['${env:A}'] });
    assert.deepEqual(expandEnv('cost: 5$ $A', env), { value: 'cost: 5$ $A', references: [] });
  });
  it('fails on unset, malformed and unterminated references, with their offset', () => {
    const fails = (s: string, re: RegExp, offset: number) =>
      assert.throws(() => expandEnv(s, env), (e: Error) => e instanceof ExpansionError && re.test(e.message) && e.offset === offset);
    fails('ab${env:NOPE}', /^environment variable NOPE is not set/, 2);
    fails('${A}', /^malformed reference "\$\{A\}" \(write \$\{env:A\}/, 0);
    fails('x${env:1A}', /^malformed reference/, 1);
    fails('${file:/x}', /^malformed reference .*\$\{env:NAME\}/, 0);
    fails('${env:A', /^unterminated reference/, 0);
  });
});

describe('config parts: suggestions', () => {
  it('edit distance counts transpositions as one', () => {
    assert.equal(editDistance('otlp', 'otpl'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });
  it('finds the close key, ignoring case, _ and -', () => {
    const keys = ['capture_keys', 'stack_depth', 'sampling', 'service_name'];
    assert.equal(closest('capture_key', keys), 'capture_keys');
    assert.equal(closest('captureKeys', keys), 'capture_keys');
    assert.equal(closest('Stack-Depth', keys), 'stack_depth');
    assert.equal(closest('sampeling', keys), 'sampling');
    assert.equal(closest('zzz', keys), undefined);
  });
});

describe('config parts: endpoints', () => {
  it('parses host:port and http(s) URLs', () => {
    assert.deepEqual(parseEndpoint('otelcol:4317'), { host: 'otelcol', port: 4317 });
    assert.deepEqual(parseEndpoint('[::1]:4317'), { host: '::1', port: 4317 });
    assert.deepEqual(parseEndpoint('http://otelcol:4317'), { scheme: 'http', host: 'otelcol', port: 4317 });
    assert.deepEqual(parseEndpoint('https://otelcol'), { scheme: 'https', host: 'otelcol', port: undefined });
    assert.deepEqual(parseEndpoint('HTTPS://[2001:db8::1]:443/'), { scheme: 'https', host: '2001:db8::1', port: undefined });
  });
  it('says what is wrong otherwise', () => {
    for (const bad of ['otelcol', 'otelcol:', 'otelcol:0', 'otelcol:70000', 'grpc://x:1', 'http://x:1/v1/traces', 'a b:1']) {
      assert.equal(typeof parseEndpoint(bad), 'string', bad);
    }
  });
  it('knows this machine', () => {
    assert.ok(isLocalHost('localhost') && isLocalHost('127.0.0.1') && isLocalHost('::1'));
    assert.ok(!isLocalHost('otelcol') && !isLocalHost('0.0.0.0'));
  });
});
