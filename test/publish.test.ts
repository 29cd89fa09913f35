// The -p cases (publish-cases.ts) with bale run as root: a veth and bale's proxy.
import { publishTests } from './publish-cases.js';

publishTests();
