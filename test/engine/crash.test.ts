// Crash safety (DESIGN §3–§5): a child ingesting with the indexer running is
// killed with SIGKILL at random points; reopening at once must show every
// acknowledged write, nothing half of an unacknowledged batch, and ignore the
// segments and manifests a killed indexer left behind.
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HyperspaceDB, LocalLogStore, LocalObjectStore, type Collection } from '../../engine/index.ts';
import { encodeManifest, manifestKey, segmentKey, ulid, type Manifest } from '../../engine/manifest.ts';
import { rng } from '../helpers/random.ts';
import { temporaryDirectory, vectorOf } from './engine-helpers.ts';

const child = join(dirname(fileURLToPath(import.meta.url)), 'crash-child.ts');
const dimension = 8, batch = 8;
const kills = 52, lanes = 2;

type Op =
  | { kind: 'upsert'; ids: string[] }
  | { kind: 'update'; ids: string[]; version: number }
  | { kind: 'delete'; ids: string[] };

/** Runs the child until `killAfterMs` past `ready` (or past `opening`, to kill recovery), then SIGKILLs it. */
function runChild(dir: string, run: number, killAt: { event: 'opening' | 'ready'; ms: number }): Promise<{ lines: string[]; finished: boolean }> {
  return new Promise((resolve, reject) => {
    const events = join(dir, `run-${run}.events`); // beside log/ and objects/
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, String(run), events], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    let timer: NodeJS.Timeout | undefined;
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!timer && out.includes(`${killAt.event}\n`)) timer = setTimeout(() => proc.kill('SIGKILL'), killAt.ms);
    });
    proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`child run ${run} exited with ${code}: ${err}`));
      // Only whole lines count: a line cut by the kill was never seen by a client.
      readFile(events, 'utf8').catch(() => '').then((text) => resolve({ lines: text.split('\n').slice(0, -1), finished: signal !== 'SIGKILL' }), reject);
    });
  });
}

function parseOps(run: number, lines: string[]): { acked: Op[]; pending: Op[] } {
  const tried = new Map<number, Op>();
  const acked: Op[] = [];
  for (const line of lines) {
    const [what, opText, kind, a, b] = line.split(' ');
    const op = Number(opText);
    if (what === 'try') {
      if (kind === 'upsert') tried.set(op, { kind, ids: Array.from({ length: batch }, (_, i) => `${run}-${a}-${i}`) });
      else if (kind === 'update') tried.set(op, { kind, version: Number(a), ids: b.split(',') });
      else if (kind === 'delete') tried.set(op, { kind, ids: a.split(',') });
    } else if (what === 'ack') {
      acked.push(tried.get(op)!);
      tried.delete(op);
    }
  }
  return { acked, pending: [...tried.values()] };
}

/** id → version of the live records. */
type Model = Map<string, number>;

function apply(model: Model, op: Op): void {
  for (const id of op.ids) {
    if (op.kind === 'delete') model.delete(id);
    else model.set(id, op.kind === 'update' ? op.version : 0);
  }
}

/** An unacknowledged op may have committed or not, but only as a whole: settle the model by what is there. */
async function settle(c: Collection, model: Model, op: Op): Promise<void> {
  const states = await Promise.all(op.ids.map(async (id) => {
    const r = await c.get(id);
    return r === null ? 'absent' : `version ${r.metadata.version}`;
  }));
  const after = op.kind === 'delete' ? 'absent' : `version ${op.kind === 'update' ? op.version : 0}`;
  const applied = states.map((s) => s === after);
  expect(applied.every((x) => x === applied[0]), `${op.kind} of ${op.ids.join(',')} half visible: ${states.join(', ')}`).toBe(true);
  if (applied[0]) apply(model, op);
}

async function expectModel(c: Collection, model: Model): Promise<void> {
  const seen = new Map<string, number>();
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<Collection['scroll']>> = await c.scroll({ cursor, limit: 10_000 });
    for (const p of page.points) {
      const version = p.metadata.version as number;
      seen.set(p.id, version);
      expect(p.vector, p.id).toEqual(vectorOf(p.id, dimension, version));
    }
    cursor = page.nextCursor;
  } while (cursor);
  expect([...seen.keys()].filter((id) => !model.has(id)), 'present but never acknowledged').toEqual([]);
  expect([...model.keys()].filter((id) => !seen.has(id)), 'acknowledged but missing').toEqual([]);
  expect([...seen].filter(([id, v]) => model.get(id) !== v)).toEqual([]);
  expect(await c.count()).toBe(model.size);
  const ids = [...model.keys()];
  const next = rng(model.size + 1);
  for (let i = 0; i < Math.min(20, ids.length); i++) {
    const id = ids[Math.floor(next() * ids.length)];
    const got = await c.get(id);
    expect(got?.metadata.version).toBe(model.get(id));
    // Narrowed to the record's own write, so search is exact here: this checks
    // visibility, not HNSW recall.
    const { hits } = await c.search(got!.vector, { k: 1, filter: { run: got!.metadata.run, op: got!.metadata.op } });
    expect(hits[0]).toEqual({ id, distance: 0 });
  }
}

/** Segments and newer manifests the current manifest does not name: what a killed indexer left. */
async function leftovers(stores: { objects: LocalObjectStore; log: LocalLogStore }): Promise<string> {
  const pointer = await stores.log.getPointer('crash');
  if (!pointer) return 'no manifest yet';
  const current = JSON.parse(new TextDecoder().decode(await stores.objects.get(pointer.key))) as Manifest;
  const named = new Set(current.segments.map((s) => s.key));
  const segments = (await stores.objects.list('collections/crash/segments/')).filter((k) => !named.has(k));
  const manifests = (await stores.objects.list('collections/crash/manifests/')).filter((k) => Number(k.match(/v(\d+)-/)![1]) > pointer.version);
  return `${segments.length} unreferenced segments, ${manifests.length} uncommitted manifests`;
}

async function lane(dir: string, runs: number, seed: number, report: string[]): Promise<void> {
  const model: Model = new Map();
  const next = rng(seed);
  for (let run = 0; run < runs; run++) {
    const killAt = next() < 0.15 ? { event: 'opening' as const, ms: Math.floor(next() * 150) } : { event: 'ready' as const, ms: Math.floor(next() * 900) };
    const { lines, finished } = await runChild(dir, run, killAt);
    const { acked, pending } = parseOps(run, lines);

    const started = performance.now();
    // At once: the dead child's directory lock is taken over, recovery completes before open returns.
    const log = await LocalLogStore.open(join(dir, 'log'));
    const objects = await LocalObjectStore.open(join(dir, 'objects'));
    const db = await HyperspaceDB.open({ objects, log }, { indexer: false });
    const openMs = performance.now() - started;
    expect(openMs).toBeLessThan(5000);
    const exists = db.listCollections().some((d) => d.name === 'crash');
    if (!exists) {
      expect(acked).toEqual([]);
      await db.close();
      await log.close();
      continue;
    }
    const c = db.collection('crash');
    for (const op of acked) apply(model, op);
    for (const op of pending) await settle(c, model, op);
    await expectModel(c, model);
    // The indexer can commit again over whatever the dead one left behind.
    if (run % 2 === 1) {
      await c.flush();
      await expectModel(c, model);
    }
    report.push(`run ${run}: ${killAt.event}+${killAt.ms}ms ${finished ? 'finished' : 'killed'}, ${acked.length} acked, ${pending.length} pending, ` +
      `${model.size} live, ${c.describe().segments} segments, ${await leftovers({ objects, log })}, open ${openMs.toFixed(0)} ms`);
    await db.close();
    await log.close();
  }
}

describe('crash safety', () => {
  it(`keeps every acknowledged write and no half batch across ${kills} SIGKILLs during ingest and indexing`, async () => {
    const logs: string[][] = Array.from({ length: lanes }, () => []);
    const dirs = await Promise.all(logs.map(() => temporaryDirectory()));
    await Promise.all(dirs.map((dir, i) => lane(dir, kills / lanes, 1000 + i, logs[i])));
    const all = logs.flat();
    console.log(all.join('\n'));
    expect(all.filter((l) => l.includes('killed')).length).toBeGreaterThanOrEqual(50);
  }, 240_000);

  it('ignores a truncated segment and manifests no pointer names; gc removes them after the grace period', async () => {
    const dir = await temporaryDirectory();
    const db = await HyperspaceDB.open(dir, { indexer: false });
    const c = await db.createCollection('docs', { dimension: 4, metric: 'l2' });
    await c.upsert(Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, vector: vectorOf(`p${i}`, 4) })));
    await c.flush();
    await db.close();

    // What an indexer killed mid-way leaves: a segment cut short, a complete
    // manifest that never won the pointer CAS, and a manifest cut short.
    const objects = join(dir, 'objects');
    const [segment] = await readdir(join(objects, 'collections/docs/segments'));
    const [current] = await readdir(join(objects, 'collections/docs/manifests'));
    const full = await readFile(join(objects, 'collections/docs/segments', segment));
    const manifest = JSON.parse(await readFile(join(objects, 'collections/docs/manifests', current), 'utf8')) as Manifest;
    const halfSegment = segmentKey('docs', 9, ulid());
    const orphanManifest = manifestKey('docs', 2, 9);
    const halfManifest = manifestKey('docs', 3, 9);
    const write = async (key: string, bytes: Uint8Array) => {
      await mkdir(dirname(join(objects, key)), { recursive: true });
      await writeFile(join(objects, key), bytes);
    };
    await write(halfSegment, full.subarray(0, full.length >> 1));
    const orphan: Manifest = { ...manifest, version: 2, parentVersion: 1, epoch: 9, segments: [...manifest.segments, { ...manifest.segments[0], key: halfSegment }] };
    const { checksum: _, ...body } = orphan as Manifest & { checksum?: string };
    await write(orphanManifest, encodeManifest(body as Manifest));
    await write(halfManifest, encodeManifest({ ...body, version: 3 } as Manifest).subarray(0, 100));

    const reopened = await HyperspaceDB.open(dir, { indexer: false });
    const again = reopened.collection('docs');
    expect(again.describe()).toMatchObject({ count: 50, segments: 1, manifestVersion: 1 });
    expect((await again.search(vectorOf('p7', 4), { k: 1 })).hits).toEqual([{ id: 'p7', distance: 0 }]);
    await again.upsert([{ id: 'q', vector: [1, 2, 3, 4] }]);
    await again.flush(); // commits v2 under its own epoch: no clash with the orphan
    expect(again.describe()).toMatchObject({ count: 51, segments: 2, manifestVersion: 2 });

    const list = async () => (await readdir(join(objects, 'collections/docs/manifests'))).concat(await readdir(join(objects, 'collections/docs/segments')));
    const now = Date.now();
    // Within the grace period only the unreadable manifest goes: no reader can be using it.
    expect((await again.gc(now)).deleted).toEqual([halfManifest]);
    expect(await list()).toContain(halfSegment.split('/').pop());
    expect(await list()).toContain(orphanManifest.split('/').pop());
    const { deleted } = await again.gc(now + 11 * 60 * 1000);
    expect(deleted.sort()).toEqual([manifestKey('docs', 1, manifest.epoch), orphanManifest, halfSegment].sort());
    expect(await list()).toHaveLength(3); // the current manifest and its two segments
    await reopened.close();

    const third = await HyperspaceDB.open(dir, { indexer: false });
    expect(await third.collection('docs').count()).toBe(51);
    await third.close();
  });

  it('commits after a killed indexer left a complete manifest at the next version under the same owner', async () => {
    const dir = await temporaryDirectory();
    const db = await HyperspaceDB.open(dir, { indexer: false });
    const c = await db.createCollection('docs', { dimension: 4, metric: 'l2' });
    await c.upsert([{ id: 'a', vector: [1, 0, 0, 0] }]);
    await c.flush();
    const epoch = c.epoch;
    await c.upsert([{ id: 'b', vector: [0, 1, 0, 0] }]);
    await db.close();
    // The same process name (owner) wrote manifest v2 and died before its pointer CAS.
    const objects = join(dir, 'objects');
    const [current] = await readdir(join(objects, 'collections/docs/manifests'));
    const { checksum: _, ...v1 } = JSON.parse(await readFile(join(objects, 'collections/docs/manifests', current), 'utf8'));
    await writeFile(join(objects, manifestKey('docs', 2, epoch)), encodeManifest({ ...v1, version: 2, parentVersion: 1, walSeq: 2, createdAtMs: 1 }));

    const reopened = await HyperspaceDB.open(dir, { indexer: false });
    const again = reopened.collection('docs');
    expect(again.epoch).toBeGreaterThan(epoch);
    await again.flush();
    expect(again.describe()).toMatchObject({ manifestVersion: 2, count: 2, tailLength: 0 });
    await reopened.close();
  });
});
