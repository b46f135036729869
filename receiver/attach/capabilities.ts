/**
 * Which Linux capabilities the tracer has, so a missing one is named before the kernel says
 * only "Operation not permitted".
 *
 * Loading BPF needs CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN). Creating a uprobe through
 * perf_event_open needs CAP_SYS_ADMIN on kernels with the 2025 fix for CVE-2025-38466
 * (mainline 6.16; stable 5.10.240, 5.15.189, 6.1.146, 6.6.99, 6.12.39, 6.15.7); older kernels
 * accept CAP_PERFMON. Reading another user's /proc/PID/exe and maps needs CAP_SYS_PTRACE.
 */
import * as fs from 'node:fs';

const CAP = { SYS_PTRACE: 19, SYS_ADMIN: 21, PERFMON: 38, BPF: 39 } as const;

export function effectiveCapabilities(): bigint {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

const has = (caps: bigint, bit: number) => (caps & (1n << BigInt(bit))) !== 0n;

/** Capabilities without which loading BPF certainly fails; empty when it may work. */
export function missingCapabilities(caps = effectiveCapabilities()): string[] {
  if (has(caps, CAP.SYS_ADMIN)) return [];
  const missing: string[] = [];
  if (!has(caps, CAP.BPF)) missing.push('CAP_BPF');
  if (!has(caps, CAP.PERFMON)) missing.push('CAP_PERFMON');
  if (missing.length) missing.push('CAP_SYS_ADMIN');
  return missing;
}

export function hasSysAdmin(caps = effectiveCapabilities()): boolean {
  return has(caps, CAP.SYS_ADMIN);
}

const GRANT =
  'run as root, or grant CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE ' +
  '(`sudo setcap cap_sys_admin,cap_bpf,cap_perfmon,cap_sys_ptrace+ep "$(command -v node)"`, or cap_add in a container)';

export function privilegeHint(missing: string[]): string {
  const caps = missing.length ? missing.join(', ') : 'CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN';
  return `not enough privilege to load BPF and attach uprobes (missing ${caps}): ${GRANT}`;
}

/** For an attach refused although BPF loaded: the kernel wants CAP_SYS_ADMIN for uprobes. */
export function uprobePrivilegeHint(target: string, reason: string): string {
  return (
    `attaching uprobes to ${target} was refused (${reason}): ` +
    (hasSysAdmin() ? GRANT : `this kernel requires CAP_SYS_ADMIN to create uprobes (CVE-2025-38466 fix); ${GRANT}`)
  );
}
