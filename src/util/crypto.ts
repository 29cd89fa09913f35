// node:crypto, loaded on first use. Its import pulls in some twenty internal modules (ciphers,
// keys, webcrypto): milliseconds that listing verbs such as `bale images` never need.
import { createRequire } from 'node:module';
import type * as Crypto from 'node:crypto';

let loaded: typeof Crypto | undefined;

export function crypto(): typeof Crypto {
  return (loaded ??= createRequire(import.meta.url)('node:crypto') as typeof Crypto);
}
