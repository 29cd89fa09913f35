// The rootless cases (rootless-cases.ts) with the kernel's overlayfs (userxattr) as the container's root.
import { rootlessTests } from './rootless-cases.js';

rootlessTests({ BALE_OVERLAY: 'overlay' });
