/**
 * Tests that need the kernel path call requireBpf(this). Outside CI they skip with a printed
 * reason when the machine cannot run BPF; under CI=true a missing capability fails the test.
 */
import * as fs from 'node:fs';
import type { Context } from 'mocha';

export function bpfUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root (BPF tests need root)';
  if (!fs.existsSync('/sys/bus/event_source/devices/uprobe/type')) return 'kernel has no uprobe PMU';
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) return 'kernel has no BTF';
  return undefined;
}

export function requireBpf(ctx: Context): void {
  const reason = bpfUnavailableReason();
  if (!reason) return;
  if (process.env.CI === 'true') throw new Error(`BPF test cannot run under CI: ${reason}`);
  console.log(`      skipped: ${reason}`);
  ctx.skip();
}
