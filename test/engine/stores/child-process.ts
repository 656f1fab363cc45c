// Spawning store-child.ts and reading its stdout line by line.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const childScript = fileURLToPath(new URL('./store-child.ts', import.meta.url));

export interface Child {
  process: ChildProcess;
  /** Complete lines printed so far. */
  lines: string[];
  /** Resolves with the first line matching, or rejects if the child exits first. */
  waitForLine(match: (line: string) => boolean): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function spawnChild(...args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    const pieces = (partial + chunk).split('\n');
    partial = pieces.pop()!;
    for (const line of pieces) {
      lines.push(line);
      for (const waiter of waiters.splice(0)) {
        if (waiter.match(line)) waiter.resolve(line);
        else waiters.push(waiter);
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return {
    process: child,
    lines,
    exited,
    waitForLine(match) {
      const found = lines.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        exited.then(({ code, signal, stderr: text }) =>
          reject(new Error(`child exited (code=${code} signal=${signal}) before the line: ${text}`)),
        );
      });
    },
  };
}

export async function kill(child: Child): Promise<void> {
  child.process.kill('SIGKILL');
  await child.exited;
}
