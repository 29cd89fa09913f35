// Every verb with its help loaded: the one table completion scripts and man pages are made from.
import { GROUPS, VERBS, groupHelp, verbModule } from './main.js';
import { helpOf, type Help } from './help.js';

export interface VerbEntry {
  /** The words after `bale`: ['images'] or ['image', 'prune']. */
  words: string[];
  /** The one line `bale --help` (or `bale image --help`) shows. */
  summary: string;
  help: Help;
  /** Subverbs, for a group verb such as `image`. */
  subverbs?: string[];
}

export async function catalog(): Promise<VerbEntry[]> {
  const out: VerbEntry[] = [];
  for (const [verb, summary] of Object.entries(VERBS)) {
    if (GROUPS[verb]) {
      out.push({ words: [verb], summary, help: groupHelp(verb), subverbs: Object.keys(GROUPS[verb]!) });
      for (const [sub, [, line]] of Object.entries(GROUPS[verb]!)) {
        out.push({ words: [verb, sub], summary: line, help: helpOf((await verbModule(verb, sub))!.help) });
      }
    } else out.push({ words: [verb], summary, help: helpOf((await verbModule(verb))!.help) });
  }
  return out;
}
