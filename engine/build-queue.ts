// Index builds run one at a time. A native build occupies a libuv pool
// thread for its whole duration, and that pool also serves file I/O: several
// builds at once would stall WAL appends behind them. Segment builds (which
// shrink the tail) go before tail-chunk builds (which only speed it up).
import { buildIndex, type BuildOptions } from '../native/index.ts';

export type BuildPriority = 'segment' | 'tail';

interface Waiting {
  priority: BuildPriority;
  start: () => void;
}

const waiting: Waiting[] = [];
let running = false;

export function queuedBuild(vectors: Float32Array, options: BuildOptions, priority: BuildPriority): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    const start = () => {
      running = true;
      buildIndex(vectors, options).then(resolve, reject).finally(() => {
        running = false;
        next();
      });
    };
    waiting.push({ priority, start });
    if (!running) next();
  });
}

function next(): void {
  if (running || waiting.length === 0) return;
  const i = waiting.findIndex((w) => w.priority === 'segment');
  const [job] = waiting.splice(i >= 0 ? i : 0, 1);
  job.start();
}

/** Builds waiting for their turn (for metrics). */
export function buildsWaiting(): number {
  return waiting.length;
}
