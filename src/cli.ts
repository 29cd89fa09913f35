// Entry point for bin/bale.
import { cli } from './cli/main.js';

await cli();
