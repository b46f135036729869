/**
 * Which Linux capabilities the tracer has, so a missing one is named before the kernel says
 * only "Operation not permitted".
 */
import * as fs from 'node:fs';

const CAP = { SYS_PTRACE: 19, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

export function effectiveCapabilities(): bigint {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

const has = (caps: bigint, bit: number) => (caps & (1n << BigInt(bit))) !== 0n;

/** Names of the capabilities missing for loading BPF and attaching uprobes; empty when fine. */
export function missingCapabilities(caps = effectiveCapabilities()): string[] {
  if (has(caps, CAP.SYS_ADMIN)) return [];
  const missing: string[] = [];
  if (!has(caps, CAP.BPF)) missing.push('CAP_BPF');
  if (!has(caps, CAP.PERFMON)) missing.push('CAP_PERFMON');
  return missing;
}

export function privilegeHint(missing: string[]): string {
  const caps = missing.length ? missing.join(', ') : 'CAP_BPF, CAP_PERFMON';
  return (
    `not enough privilege to load BPF and attach uprobes (missing ${caps}): run as root, ` +
    `or grant them with \`sudo setcap cap_bpf,cap_perfmon,cap_sys_ptrace,cap_dac_read_search+ep "$(command -v node)"\``
  );
}
