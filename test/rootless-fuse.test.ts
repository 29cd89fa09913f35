// The rootless cases (rootless-cases.ts) with fuse-overlayfs as the container's root, chosen as on a
// kernel before 5.11: diff, commit and export of its upper dir must give root's bytes too.
import { rootlessTests } from './rootless-cases.js';

rootlessTests({ BALE_OVERLAY: 'fuse-overlayfs' });
