/**
 * Standalone export parented to the service's span (receiver/export/spans.ts), as the collector
 * sees it: the `otlp` exporter's real OTLP/gRPC requests go to an in-process receiver, and the
 * decoded `go.map.deletes` spans are checked on the wire — trace id = the service span's trace,
 * parent_span_id = its span id, the remote-parent flag set — while deletes without a span, or
 * under an unsampled one, get a trace of their own.
 */
import { strict as assert } from 'node:assert';
import { ExportPipeline } from '../../receiver/export/pipeline';
import { parentSpanOf } from '../../receiver/export/spans';
import type { Span } from '../../receiver/otlp/proto';
import { Collector, activeSpan, attrsToJs, deleteEvent, hex, otlpExporterConfig, receiverConfig } from './export-helpers';

const T1 = '4bf92f3577b34da6a3ce929d0e0e4736';
const S1 = '00f067aa0ba902b7';
const T2 = '0af7651916cd43dd8448eb211c80319c';
const S2 = 'b7ad6b7169203331';
const S3 = '53995c3f42cd8ad8';

/** OTLP span flags: W3C flags in the low byte, then "has is_remote" (0x100) and "is_remote" (0x200). */
const SAMPLED_REMOTE_PARENT = 0x301;

describe('export: go.map.deletes spans parented to the service span', function () {
  this.timeout(30_000);
  let col: Collector;
  let addr: string;

  beforeEach(async () => {
    col = new Collector();
    addr = await col.start();
  });

  afterEach(async () => {
    await col.stop();
  });

  async function exportAll(events: ReturnType<typeof deleteEvent>[]): Promise<Span[]> {
    const lines: string[] = [];
    const p = new ExportPipeline(receiverConfig({ groupingWindowMs: 60_000 }), [otlpExporterConfig(addr)], (l) => lines.push(l));
    for (const e of events) p.consume(e);
    await p.close(5000);
    const s = p.stats().exporters.otlp;
    assert.equal(s.droppedEvents, 0, JSON.stringify(s));
    assert.equal(s.exportedEvents, events.length);
    return col.deleteSpans();
  }

  it('puts deletes under a sampled span into that trace, as children of the span', async () => {
    const under = [deleteEvent(activeSpan(T1, S1), { goid: '18' }), deleteEvent(activeSpan(T1, S1), { goid: '18', op: 'clear' })];
    const inherited = deleteEvent(activeSpan(T1, S1, true, true), { goid: '19' });
    const spans = await exportAll([...under, inherited]);
    assert.equal(spans.length, 2, 'one span per goroutine under the service span');
    for (const s of spans) {
      assert.equal(hex(s.traceId), T1, 'the service span\'s trace id');
      assert.equal(hex(s.parentSpanId), S1, 'parent_span_id is the service span');
      assert.notEqual(hex(s.spanId), S1);
      assert.equal(s.flags, SAMPLED_REMOTE_PARENT, 'sampled, with a remote parent');
    }
    const g18 = spans.find((s) => attrsToJs(s.attributes)['go.goroutine.id'] === 18)!;
    const g19 = spans.find((s) => attrsToJs(s.attributes)['go.goroutine.id'] === 19)!;
    assert.deepEqual(attrsToJs(g18.attributes), { 'go.goroutine.id': 18, 'go.map.deletes': 1, 'go.map.clears': 1 });
    assert.deepEqual(g18.events.map((e) => e.name), ['go.map.delete', 'go.map.clear']);
    assert.equal(g19.events.length, 1);
    // the span covers its deletes, no more
    assert.equal(g18.startTimeUnixNano, under[0].timeNs.toString());
    assert.equal(g18.endTimeUnixNano, (under[1].timeNs + 1n).toString());
  });

  it('gives deletes without a span, or under an unsampled one, a trace of their own', async () => {
    const none = deleteEvent(null, { goid: '30' });
    const unsampled = deleteEvent(activeSpan(T2, S2, false), { goid: '31' });
    const spans = await exportAll([none, unsampled]);
    assert.equal(spans.length, 2);
    for (const s of spans) {
      assert.equal(hex(s.parentSpanId), '', 'no parent');
      assert.notEqual(hex(s.traceId), T2, 'not the unsampled span\'s trace');
      assert.match(hex(s.traceId), /^[0-9a-f]{32}$/);
      assert.equal((s.flags ?? 0) & 0xff, 1);
      assert.equal((s.flags ?? 0) & 0x200, 0, 'no remote parent');
    }
    assert.notEqual(hex(spans[0].traceId), hex(spans[1].traceId));
  });

  it('keeps one goroutine\'s deletes under different spans apart', async () => {
    const spans = await exportAll([
      deleteEvent(activeSpan(T1, S1), { goid: '40' }),
      deleteEvent(activeSpan(T1, S3), { goid: '40' }),
      deleteEvent(activeSpan(T2, S2), { goid: '40' }),
      deleteEvent(null, { goid: '40' }),
      deleteEvent(activeSpan(T1, S1), { goid: '40' }),
    ]);
    const byParent = new Map(spans.map((s) => [`${hex(s.traceId)}/${hex(s.parentSpanId)}`, s]));
    assert.equal(spans.length, 4);
    assert.equal(byParent.get(`${T1}/${S1}`)?.events.length, 2);
    assert.equal(byParent.get(`${T1}/${S3}`)?.events.length, 1);
    assert.equal(byParent.get(`${T2}/${S2}`)?.events.length, 1);
    assert.equal(spans.filter((s) => !s.parentSpanId?.length).length, 1);
  });

  it('parents only to valid, sampled span contexts', () => {
    assert.deepEqual(parentSpanOf(deleteEvent(activeSpan(T1, S1))), activeSpan(T1, S1));
    assert.equal(parentSpanOf(deleteEvent(activeSpan(T1, S1, false))), null);
    assert.equal(parentSpanOf(deleteEvent(null)), null);
    assert.equal(parentSpanOf(deleteEvent(activeSpan('0'.repeat(32), S1))), null, 'an all-zero trace id is invalid');
    assert.equal(parentSpanOf(deleteEvent(activeSpan(T1, '0'.repeat(16)))), null, 'an all-zero span id is invalid');
    assert.equal(parentSpanOf(deleteEvent(activeSpan(T1.toUpperCase(), S1))), null, 'ids are lowercase hex');
    assert.equal(parentSpanOf(deleteEvent(activeSpan(T1.slice(2), S1))), null);
  });
});
