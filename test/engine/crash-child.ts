// Child process of crash.test.ts: ingests into one collection with the
// background indexer flushing and compacting at small thresholds, until the
// parent kills it with SIGKILL. Protocol, one line per event, appended with
// writeSync to the events file (a regular file: once written, a line
// survives the kill; stdout may queue writes in user space when the pipe is
// full). `opening` and `ready` also go to stdout, to time the kill:
//   opening                      about to open (recovery runs next)
//   ready                        open and recovered
//   try <op> upsert <b>          writer A: ids <run>-<b>-0..7, version 0
//   try <op> update <v> <ids>    writer B: ids (comma-separated) get version <v>
//   try <op> delete <ids>        writer B: ids deleted
//   ack <op> <seq>               the op above was acknowledged with <seq>
// Usage: node --import tsx crash-child.ts <dir> <run> <events file>
import { openSync, writeSync } from 'node:fs';
import { HyperspaceDB } from '../../engine/index.ts';
import { rng } from '../helpers/random.ts';
import { vectorOf } from './engine-data.ts';

const crashCollection = { name: 'crash', dimension: 8, batch: 8 } as const;

const [dir, runText, eventsPath] = process.argv.slice(2);
const run = Number(runText);
const events = openSync(eventsPath, 'a');
const say = (line: string) => {
  writeSync(events, `${line}\n`);
  if (line === 'opening' || line === 'ready') process.stdout.write(`${line}\n`);
};

say('opening');
const db = await HyperspaceDB.open(dir, { indexer: { tailRecordsFlush: 48, tailAgeMsFlush: 20, segmentsMax: 3 } });
const c = db.listCollections().some((d) => d.name === crashCollection.name)
  ? db.collection(crashCollection.name)
  : await db.createCollection(crashCollection.name, { dimension: crashCollection.dimension, metric: 'l2' });
say('ready');

let ops = 0;
const live: string[] = [];

async function retrying<T>(write: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await write();
    } catch (error) {
      if ((error as { kind?: string }).kind !== 'overloaded') throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

async function writerA(): Promise<void> {
  for (let b = 0; b < 400; b++) {
    const op = ops++;
    const ids = Array.from({ length: crashCollection.batch }, (_, i) => `${run}-${b}-${i}`);
    say(`try ${op} upsert ${b}`);
    const { seq } = await retrying(() => c.upsert(ids.map((id) => ({ id, vector: vectorOf(id, crashCollection.dimension, 0), metadata: { run, op, version: 0 } }))));
    say(`ack ${op} ${seq}`);
    live.push(...ids);
  }
}

async function writerB(): Promise<void> {
  const next = rng(run + 1);
  for (let i = 0; i < 400; i++) {
    if (live.length < 8) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      continue;
    }
    const picked = new Set<string>();
    for (let j = 0; j < 4; j++) picked.add(live[Math.floor(next() * live.length)]);
    const ids = [...picked];
    const op = ops++;
    if (next() < 0.5) {
      const version = op + 1;
      say(`try ${op} update ${version} ${ids.join(',')}`);
      const { seq } = await retrying(() => c.upsert(ids.map((id) => ({ id, vector: vectorOf(id, crashCollection.dimension, version), metadata: { run, op, version } }))));
      say(`ack ${op} ${seq}`);
    } else {
      say(`try ${op} delete ${ids.join(',')}`);
      const { seq } = await retrying(() => c.delete(ids));
      say(`ack ${op} ${seq}`);
      for (const id of ids) live.splice(live.indexOf(id), 1);
    }
  }
}

await Promise.all([writerA(), writerB()]);
say('done');
await db.close();
