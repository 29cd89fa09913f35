// The worker thread that store/layers.ts applies layers in when several unpack at once (bundled as
// an entry point of its own: see package.json's bundle script).
import { applyBlob, type ApplyJob } from './layers.js';
import { serveJobs } from '../util/worker-pool.js';

serveJobs<ApplyJob, void>(applyBlob);
