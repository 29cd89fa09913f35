// bale completion: print the completion script for a shell, made from the verb table.
import { UsageError } from '../../util/errors.js';
import { completionScript } from '../completion.js';
import { needArgs, parseFlags, wantsHelp } from '../verb.js';
import type { Help } from '../help.js';

export const help: Help = {
  usage: 'bale completion bash|zsh|fish',
  summary: `Print a script that completes bale's verbs, options, option values, image names and container
names (from the store) in the given shell.`,
  options: [{ flags: '-h, --help', text: 'Show this help' }],
  notes: `  bash:  source <(bale completion bash)     or save it as /etc/bash_completion.d/bale
  zsh:   source <(bale completion zsh)
  fish:  bale completion fish > ~/.config/fish/completions/bale.fish`,
};

export async function run(args: string[]): Promise<number> {
  const p = parseFlags(args, {}, 'completion');
  if (wantsHelp(p, help)) return 0;
  needArgs(p, 1, 1, 'completion');
  const script = await completionScript(p._[0]!);
  if (script === undefined) throw new UsageError(`bale completion: no completion for ${JSON.stringify(p._[0])} (bash, zsh or fish)`);
  process.stdout.write(script);
  return 0;
}
