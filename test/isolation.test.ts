// The isolation cases (isolation-cases.ts), with bale run as root.
import { isolationTests } from './isolation-cases.js';

isolationTests();
