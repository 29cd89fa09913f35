// Container names like docker's: adjective_surname, made up here.
import { randomInt } from 'node:crypto';

const LEFT = [
  'agile', 'bold', 'brave', 'bright', 'calm', 'clever', 'cool', 'crisp', 'daring', 'deft', 'eager', 'fair',
  'fierce', 'gentle', 'glad', 'happy', 'hardy', 'humble', 'jolly', 'keen', 'kind', 'lively', 'lucid', 'merry',
  'nimble', 'noble', 'patient', 'plucky', 'proud', 'quick', 'quiet', 'rapid', 'sharp', 'shy', 'steady', 'stoic',
  'sunny', 'swift', 'tender', 'tidy', 'vivid', 'warm', 'wise', 'witty', 'zealous',
];
const RIGHT = [
  'agnesi', 'babbage', 'bohr', 'boole', 'cantor', 'curie', 'darwin', 'dijkstra', 'euler', 'faraday', 'fermat',
  'feynman', 'galois', 'gauss', 'goodall', 'hamilton', 'hopper', 'hypatia', 'kepler', 'knuth', 'lamarr',
  'lovelace', 'maxwell', 'meitner', 'mendel', 'newton', 'noether', 'pascal', 'planck', 'ritchie', 'shannon',
  'somerville', 'tesla', 'thompson', 'turing', 'volta', 'wozniak', 'yalow',
];

export function generateName(taken: Set<string>): string {
  for (let i = 0; i < 100; i++) {
    const n = `${LEFT[randomInt(LEFT.length)]}_${RIGHT[randomInt(RIGHT.length)]}`;
    const name = i < 10 ? n : `${n}${randomInt(10)}`;
    if (!taken.has(name)) return name;
  }
  throw new Error('could not find a free container name');
}

/** Docker's rule for user-given names. */
export function validName(n: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n);
}
