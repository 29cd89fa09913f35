// bale unpause: thaw the processes of paused containers.
import { unpauseContainer } from '../../runtime/pause.js';
import { eachContainer } from '../containers.js';

export const help = `Usage: bale unpause CONTAINER [CONTAINER...]

Unpause all processes within one or more containers paused with 'bale pause'.
`;

export function run(args: string[]): Promise<number> {
  return eachContainer(args, 'unpause', help, unpauseContainer);
}
