// Platforms (`os/arch[/variant]`) as --platform names them and as image indexes and configs record
// them: parsing, matching and printing, one way for every verb.
import { UsageError } from '../util/errors.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** `linux/arm64/v8` → its parts; refuses anything but two or three non-empty parts. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) throw new UsageError(`--platform takes os/arch[/variant], not ${JSON.stringify(s)}`);
  return { os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) };
}

/** Does `p` (an index entry's or a config's platform, fields possibly absent) serve `want`? A variant counts only where both name one. */
export function platformMatches(p: Partial<Platform> | undefined, want: Platform): boolean {
  if (!p) return true;
  if (p.os && p.os !== want.os) return false;
  if (p.architecture && p.architecture !== want.architecture) return false;
  return !want.variant || !p.variant || p.variant === want.variant;
}

export function formatPlatform(p: Partial<Platform> | undefined): string {
  if (!p || (!p.os && !p.architecture)) return '?';
  return `${p.os ?? '?'}/${p.architecture ?? '?'}${p.variant ? `/${p.variant}` : ''}`;
}
