// The -p cases (publish-cases.ts) with bale run by a normal user (rootless): pasta.
import { publishTests } from './publish-cases.js';
import { ROOTLESS_USER, user } from './rootless.js';

publishTests(user(ROOTLESS_USER));
