// The worker thread examine-pool.ts starts (bundled as an entry point of its own: see src/bundle.mjs).
import { serveExamine } from './examine-pool.js';

serveExamine();
