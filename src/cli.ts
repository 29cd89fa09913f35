// Entry point for bin/bale (bundled into dist/bundle/cli/cli.js, CommonJS: no top-level await).
import { cli } from './cli/main.js';

void cli();
