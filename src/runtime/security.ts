// A container's security options (docker's --security-opt, --cap-add, --cap-drop, --privileged):
// checked and recorded at create, turned into bale-init's arguments (and the seccomp rules file) at
// start.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BaleError } from '../util/errors.js';
import { capNumber, effectiveCaps, normalizeCap } from './capabilities.js';
import { hostTarget, parseDockerProfile, rulesFile } from './seccomp.js';
import { dockerDefaultProfile } from './seccomp-default.js';
import { filterCacheFile, RULES_FILE } from './seccomp-cache.js';
import type { Store } from '../store/store.js';

export interface SecurityRecord {
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  noNewPrivileges: boolean;
  /** docker's default profile, none, or the profile JSON read from the file at create. */
  seccomp: 'default' | 'unconfined' | 'custom';
  seccompProfile?: string;
  /** The --security-opt values as given (what inspect shows). */
  securityOpt: string[];
}

export interface SecurityFlags {
  securityOpt: string[];
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
}

/** What a container created by an older bale (no `security` field) runs with: docker's defaults. */
export const DEFAULT_SECURITY: SecurityRecord = { capAdd: [], capDrop: [], privileged: false, noNewPrivileges: false, seccomp: 'default', securityOpt: [] };

/** Check the flags (capability names, the profile file) and make the record. */
export function securityRecord(f: SecurityFlags): SecurityRecord {
  const rec: SecurityRecord = {
    ...DEFAULT_SECURITY,
    capAdd: f.capAdd.map((c) => normalizeCap(c, 'CapAdd')),
    capDrop: f.capDrop.map((c) => normalizeCap(c, 'CapDrop')),
    privileged: f.privileged,
    securityOpt: f.securityOpt,
  };
  for (const opt of f.securityOpt) {
    // docker takes KEY=VALUE and the older KEY:VALUE
    const m = /^([a-z-]+)(?:[=:](.*))?$/s.exec(opt);
    const [key, value] = m ? [m[1], m[2]] : ['', undefined];
    if (key === 'no-new-privileges' && (value === undefined || value === 'true' || value === 'false')) {
      rec.noNewPrivileges = value !== 'false';
    } else if (key === 'seccomp' && value === 'unconfined') {
      rec.seccomp = 'unconfined';
      delete rec.seccompProfile;
    } else if (key === 'seccomp' && value) {
      let text: string;
      try {
        text = readFileSync(path.resolve(value), 'utf8');
      } catch (e) {
        throw new BaleError(`opening seccomp profile (${value}) failed: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { exitCode: 125 });
      }
      parseDockerProfile(text);
      rec.seccomp = 'custom';
      rec.seccompProfile = text;
    } else {
      throw new BaleError(`invalid --security-opt: ${JSON.stringify(opt)} (bale knows seccomp=unconfined|FILE.json and no-new-privileges[=true|false])`, { exitCode: 125 });
    }
  }
  return rec;
}

/**
 * bale-init's security arguments for a container, writing its seccomp rules file into `dir` (the
 * container's directory) when it has a filter; the compiled filter is cached in the store.
 */
export async function securityArgs(store: Store, dir: string, sec: SecurityRecord = DEFAULT_SECURITY): Promise<string[]> {
  // ALL means every capability bale holds: a host root that is itself confined lacks some
  const held = boundingSet();
  const caps = effectiveCaps(sec).filter((c) => !sec.capAdd.includes('ALL') || held.has(capNumber(c)));
  const args = ['--caps', caps.map(capNumber).join(',')];
  if (sec.privileged) args.push('--privileged');
  if (sec.noNewPrivileges) args.push('--no-new-privs');
  if (!sec.privileged && sec.seccomp !== 'unconfined') {
    const profile = sec.seccomp === 'custom' ? parseDockerProfile(sec.seccompProfile ?? '') : dockerDefaultProfile();
    const file = path.join(dir, RULES_FILE);
    const text = rulesFile(profile, hostTarget(caps));
    // renamed into place: an exec starting meanwhile reads the old file or the new, never half
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, file);
    args.push('--seccomp', file, '--seccomp-cache', filterCacheFile(store, text));
  }
  return args;
}

/** The capability numbers in this process's bounding set. */
function boundingSet(): Set<number> {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  const bits = BigInt('0x' + (m?.[1] ?? '0'));
  const out = new Set<number>();
  for (let c = 0; c < 64; c++) if ((bits >> BigInt(c)) & 1n) out.add(c);
  return out;
}

/** docker inspect's HostConfig fields for these options. */
export function hostConfig(sec: SecurityRecord = DEFAULT_SECURITY) {
  return { CapAdd: sec.capAdd.length ? sec.capAdd : null, CapDrop: sec.capDrop.length ? sec.capDrop : null, Privileged: sec.privileged, SecurityOpt: sec.securityOpt.length ? sec.securityOpt : null };
}
