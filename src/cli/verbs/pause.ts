// bale pause: freeze every process of running containers (cgroup freezer).
import { pauseContainer } from '../../runtime/pause.js';
import { eachContainer } from '../containers.js';

export const help = `Usage: bale pause CONTAINER [CONTAINER...]

Pause all processes within one or more containers: they are frozen in their cgroup
until 'bale unpause' (or stop, kill, rm -f, which thaw them after signalling).
`;

export function run(args: string[]): Promise<number> {
  return eachContainer(args, 'pause', help, pauseContainer);
}
