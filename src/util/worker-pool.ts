// A few worker threads that each run one job at a time, for work whose synchronous system calls
// would otherwise queue up on the main thread (unpacking layers side by side). A job is one
// message in and one reply out; a failed job comes back as an Error with the worker's one line.
import { parentPort, Worker } from 'node:worker_threads';

type Reply<R> = { result: R } | { error: string };

export class WorkerPool<Q, R> {
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();

  /** `url`: a module that calls serveJobs(). Workers are started on demand, never more than the jobs in flight. */
  constructor(private readonly url: URL) {}

  async run(job: Q): Promise<R> {
    const worker = this.idle.pop() ?? this.start();
    let healthy = false;
    try {
      const reply = await new Promise<Reply<R>>((resolve, reject) => {
        const onMessage = (m: Reply<R>) => done(() => resolve(m));
        const onError = (e: Error) => done(() => reject(e));
        const onExit = (code: number) => done(() => reject(new Error(`worker thread exited (${code})`)));
        const done = (f: () => void) => {
          worker.off('message', onMessage).off('error', onError).off('exit', onExit);
          f();
        };
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
        worker.postMessage(job);
      });
      healthy = true;
      if ('error' in reply) throw new Error(reply.error);
      return reply.result;
    } finally {
      if (healthy) this.idle.push(worker);
      else this.drop(worker);
    }
  }

  /** Stop every worker (they hold no state between jobs). */
  async close(): Promise<void> {
    const ws = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(ws.map((w) => w.terminate()));
  }

  private start(): Worker {
    const w = new Worker(this.url);
    this.all.add(w);
    return w;
  }

  private drop(w: Worker): void {
    this.all.delete(w);
    void w.terminate();
  }
}

/** In a worker thread started by a WorkerPool: answer each job with `handle`'s result or its error's first line. */
export function serveJobs<Q, R>(handle: (job: Q) => Promise<R>): void {
  const port = parentPort;
  if (!port) throw new Error('serveJobs: not in a worker thread');
  port.on('message', (job: Q) => {
    handle(job).then(
      (result) => port.postMessage({ result } satisfies Reply<R>),
      (e: unknown) => port.postMessage({ error: (e instanceof Error ? e.message : String(e)).split('\n')[0]! } satisfies Reply<R>),
    );
  });
}
