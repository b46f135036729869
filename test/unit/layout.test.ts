/**
 * decode.ts must agree with bpf/mdt_event.h byte for byte: compile the header with the C
 * compiler and compare every offset.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OFF, RECORD_SIZE, KEY_MAX, STACK_MAX, COUNT_KEY_SIZE, MAP_KEY_SIZE, MAP_ACTIVITY_SIZE, KEY_KEY_SIZE, KEY_ACTIVITY_SIZE, DURATION_BUCKETS } from '../../receiver/events/decode';
import { packageRoot } from '../../receiver/util/paths';
import { OTEL_PLAN_SIZE, encodeOtelPlan } from '../../receiver/attach/session';

describe('record layout', () => {
  it('matches struct mdt_event as the C compiler lays it out', () => {
    const fields: Record<keyof typeof OFF, string> = {
      tsNs: 'ts_ns', pid: 'pid', tid: 'tid', goid: 'goid', mapAddr: 'map_addr', mapType: 'map_type',
      keyHash: 'key_hash', mapLen: 'map_len', probeIp: 'probe_ip', keyLen: 'key_len', flags: 'flags',
      funcId: 'func_id', argKind: 'arg_kind', stackLen: 'stack_len', keyBytes: 'key_bytes', planId: 'plan_id', traceId: 'trace_id', spanId: 'span_id', spanState: 'span_state', spanFlags: 'span_flags', stack: 'stack', key: 'key',
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdt-layout-'));
    const src = path.join(dir, 'layout.c');
    const prints = Object.entries(fields)
      .map(([ts, c]) => `printf("${ts} %zu\\n", offsetof(struct mdt_event, ${c}));`)
      .join('\n');
    fs.writeFileSync(
      src,
      `#include <stdio.h>\n#include <stddef.h>\n#include "mdt_event.h"\nint main(void){\n${prints}\n` +
        `printf("otelplan %zu %zu %zu %zu %zu %zu %zu %zu\\n", offsetof(struct mdt_otel_plan, trace_id_off), offsetof(struct mdt_otel_plan, span_id_off), offsetof(struct mdt_otel_plan, flags_off), offsetof(struct mdt_otel_plan, end_time_off), offsetof(struct mdt_otel_plan, goid_off), offsetof(struct mdt_otel_plan, parent_goid_off), offsetof(struct mdt_otel_plan, enabled), sizeof(struct mdt_otel_plan));\n` +
        `printf("counters %zu %zu %zu %zu %zu %zu\\n", sizeof(struct mdt_count_key), offsetof(struct mdt_count_key, plan_id), offsetof(struct mdt_count_key, op), offsetof(struct mdt_count_key, func_id), offsetof(struct mdt_count_key, map_type), offsetof(struct mdt_count_key, caller));\n` +
        `printf("activity %zu %zu %zu %zu %zu %zu %zu %zu %zu\\n", sizeof(struct mdt_map_key), sizeof(struct mdt_map_activity), offsetof(struct mdt_map_activity, clears), offsetof(struct mdt_map_activity, map_type), offsetof(struct mdt_map_activity, last_len), offsetof(struct mdt_map_activity, max_clear_len), offsetof(struct mdt_map_activity, last_seen), offsetof(struct mdt_map_activity, plan_id), offsetof(struct mdt_map_key, map_addr));\n` +
        `printf("keys %zu %zu %zu %zu %d\\n", sizeof(struct mdt_key_key), offsetof(struct mdt_key_key, key_hash), sizeof(struct mdt_key_activity), offsetof(struct mdt_key_activity, map_type), MDT_DURATION_BUCKETS);\n` +
        `printf("size %zu\\nkeymax %d\\nstackmax %d\\n", sizeof(struct mdt_event), MDT_KEY_MAX, MDT_STACK_MAX);return 0;}\n`,
    );
    execFileSync('cc', ['-I', path.join(packageRoot(), 'bpf'), src, '-o', path.join(dir, 'layout')]);
    const out = execFileSync(path.join(dir, 'layout'), { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    const got = new Map(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)] as [string, string]));
    for (const ts of Object.keys(fields) as (keyof typeof OFF)[]) {
      assert.equal(OFF[ts], Number(got.get(ts)), `offset of ${ts}`);
    }
    assert.equal(RECORD_SIZE, Number(got.get('size')));
    assert.equal(KEY_MAX, Number(got.get('keymax')));
    assert.equal(STACK_MAX, Number(got.get('stackmax')));
    // struct mdt_otel_plan as encodeOtelPlan writes it: six u16 offsets, then u32 enabled.
    assert.equal(got.get('otelplan'), `0 2 4 6 8 10 12 ${OTEL_PLAN_SIZE}`);
    const enc = encodeOtelPlan({ traceIdOff: 192, spanIdOff: 208, flagsOff: 216, endTimeOff: 136, goidOff: 152, parentGoidOff: 280 });
    assert.deepEqual([0, 2, 4, 6, 8, 10].map((o) => enc.readUInt16LE(o)), [192, 208, 216, 136, 152, 280]);
    assert.equal(enc.readUInt32LE(12), 1);
    // The counter tables, as decodeCountKey / decodeMapActivity / decodeKeyKey read them.
    assert.equal(got.get('counters'), `${COUNT_KEY_SIZE} 4 6 7 8 16`);
    assert.equal(got.get('activity'), `${MAP_KEY_SIZE} ${MAP_ACTIVITY_SIZE} 8 16 24 32 40 48 8`);
    assert.equal(got.get('keys'), `${KEY_KEY_SIZE} 8 ${KEY_ACTIVITY_SIZE} 8 ${DURATION_BUCKETS}`);
  });
});
