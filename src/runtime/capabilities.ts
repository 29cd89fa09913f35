// Linux capabilities by name, and docker's rules for the set a container holds.
//
// Names are docker's (`CAP_SYS_ADMIN`, or `SYS_ADMIN` / `sys_admin` on the command line); numbers
// are the kernel's (linux/capability.h), which is what bale-init takes (`--caps N,N,...`).
import { BaleError } from '../util/errors.js';

/** Every capability the kernel knows, in number order (index = capability number). */
export const ALL_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** What docker gives a container that asks for nothing else. */
export const DOCKER_DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** `sys_admin`, `SYS_ADMIN` or `CAP_SYS_ADMIN` as `CAP_SYS_ADMIN`; `ALL` stays `ALL`. */
export function normalizeCap(name: string, flag: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!(ALL_CAPS as readonly string[]).includes(full)) throw new BaleError(`invalid ${flag}: unknown capability: ${JSON.stringify(full)}`, { exitCode: 125 });
  return full;
}

export interface CapChoice {
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
}

/**
 * The capabilities a container holds, docker's way: privileged or `--cap-add ALL` give every one
 * (less the drops, for ALL); `--cap-drop ALL` leaves only the adds; otherwise the default set less
 * the drops plus the adds.
 */
export function effectiveCaps(c: CapChoice): string[] {
  if (c.privileged) return [...ALL_CAPS];
  const add = c.capAdd.map((n) => normalizeCap(n, 'CapAdd'));
  const drop = c.capDrop.map((n) => normalizeCap(n, 'CapDrop'));
  let caps: string[];
  if (add.includes('ALL')) caps = ALL_CAPS.filter((n) => !drop.includes(n));
  else if (drop.includes('ALL')) caps = add;
  else caps = [...DOCKER_DEFAULT_CAPS.filter((n) => !drop.includes(n)), ...add];
  return [...new Set(caps)].sort((a, b) => capNumber(a) - capNumber(b));
}

export function capNumber(name: string): number {
  return (ALL_CAPS as readonly string[]).indexOf(name);
}
