// The isolation cases (isolation-cases.ts), with bale run by a normal user (rootless): the same outcome as root's.
import { isolationTests } from './isolation-cases.js';
import { ROOTLESS_USER, user } from './rootless.js';

isolationTests(user(ROOTLESS_USER));
