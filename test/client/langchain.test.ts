// The LangChain.js vector store against a running `hyperspace serve` (a child
// process serving gRPC and HTTP on one data directory), with a deterministic
// trigram embedding.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Document } from '@langchain/core/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperspaceClient } from '../../client/index.ts';
import { HyperspaceVectorStore } from '../../client/langchain.ts';
import { TrigramEmbeddings } from './trigram-embeddings.ts';

const serveFile = fileURLToPath(new URL('../../functions/serve.ts', import.meta.url));

interface Serving {
  child: ChildProcess;
  httpBase: string;
  grpcAddress: string;
  directory: string;
}

/** Starts `hyperspace serve` on free ports; resolves once both servers listen and health answers. */
async function startServeProcess(): Promise<Serving> {
  const directory = await mkdtemp(join(tmpdir(), 'hyperspace-langchain-'));
  const child = spawn(process.execPath, ['--import', 'tsx', serveFile, '--data', directory, '--http-port', '0', '--grpc-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const onData = (chunk: Buffer) => (output += chunk);
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const [httpBase, grpcAddress] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 30_000);
    const check = () => {
      const http = /http: listening on (http:\/\/\S+)/.exec(output);
      const grpc = /grpc: listening on (\S+)/.exec(output);
      if (http && grpc) {
        clearTimeout(timer);
        resolve([http[1]!, grpc[1]!]);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', () => reject(new Error(`serve exited: ${output}`)));
  });
  const probe = HyperspaceClient.http(httpBase, { retry: { attemptsMax: 50, delayMsBase: 100, delayMsMax: 200 } });
  expect((await probe.health()).serving).toBe(true);
  return { child, httpBase, grpcAddress, directory };
}

async function stopServeProcess(serving: Serving): Promise<void> {
  const exited = new Promise((resolve) => serving.child.once('exit', resolve));
  serving.child.kill('SIGTERM');
  await exited;
  await rm(serving.directory, { recursive: true, force: true });
}

let serving: Serving;
beforeAll(async () => {
  serving = await startServeProcess();
});
afterAll(() => stopServeProcess(serving));

const texts = [
  'the cat sat on the mat',
  'a dog chased the cat around the garden',
  'typescript compiles to javascript',
  'rust has a borrow checker',
  'vector databases search nearest neighbours',
  'hnsw is a graph index for nearest neighbour search',
  'the cat sat on the mat!',
  'cats sit on mats',
];
const metadatas = texts.map((_, i) => ({ topic: [0, 1, 6, 7].includes(i) ? 'animals' : 'code', n: i }));
const ids = ['0012', 'doc:a/b?c', '3', 'ünï', 'e', 'f', 'g', 'h'];

describe.each(['grpc', 'http'] as const)('HyperspaceVectorStore over %s', (transport) => {
  const collection = `notes-${transport}`;
  let client: HyperspaceClient;
  let store: HyperspaceVectorStore;
  const embeddings = new TrigramEmbeddings(64);

  beforeAll(async () => {
    client = transport === 'grpc' ? HyperspaceClient.grpc(serving.grpcAddress) : HyperspaceClient.http(serving.httpBase);
    store = await HyperspaceVectorStore.fromTexts(texts, metadatas, embeddings, { client, collection, ids });
  });
  afterAll(() => client.close());

  it('creates the collection from the first embedding and keeps string ids as strings', async () => {
    const info = await client.describeCollection(collection);
    expect(info).toMatchObject({ dimension: 64, metric: 'cosine', count: texts.length });
    const stored = await client.get(collection, '0012');
    expect(stored?.metadata).toEqual({ topic: 'animals', n: 0, text: 'the cat sat on the mat' });
  });

  it('finds the closest texts, with distances ascending from 0 for the same text', async () => {
    const results = await store.similaritySearchWithScore('the cat sat on the mat', 3);
    expect(results[0]![0]).toEqual(new Document({ id: '0012', pageContent: 'the cat sat on the mat', metadata: { topic: 'animals', n: 0 } }));
    expect(results[0]![1]).toBeCloseTo(0, 6);
    expect(results[1]![0].id).toBe('g');
    const scores = results.map(([, score]) => score);
    expect(scores).toEqual([...scores].sort((a, b) => a - b));
    const documents = await store.similaritySearch('nearest neighbour search index', 2);
    expect(documents.map((d) => d.id).sort()).toEqual(['e', 'f']);
  });

  it('passes metadata filters through', async () => {
    const code = await store.similaritySearch('the cat sat on the mat', 4, { topic: 'code' });
    expect(code).toHaveLength(4);
    expect(code.every((d) => d.metadata.topic === 'code')).toBe(true);
    const some = await store.similaritySearch('cat', 10, { $and: [{ topic: 'animals' }, { n: { $gte: 6 } }] });
    expect(some.map((d) => d.id).sort()).toEqual(['g', 'h']);
  });

  it('diversifies with maximal marginal relevance', async () => {
    const plain = await store.similaritySearch('the cat sat on the mat', 2);
    expect(plain.map((d) => d.id)).toEqual(['0012', 'g']);
    const diverse = await store.maxMarginalRelevanceSearch('the cat sat on the mat', { k: 2, fetchK: 8, lambda: 0.3 });
    expect(diverse[0]!.id).toBe('0012');
    expect(diverse[1]!.id).not.toBe('g');
  });

  it('adds documents with their own ids, serves as a retriever, and deletes by id', async () => {
    const added = await store.addDocuments([
      new Document({ id: 'owl-1', pageContent: 'an owl hoots at night', metadata: { topic: 'animals', n: 8 } }),
      new Document({ pageContent: 'owls hunt mice at night', metadata: { topic: 'animals', n: 9 } }),
    ]);
    expect(added[0]).toBe('owl-1');
    expect(added[1]).toMatch(/^[0-9a-f-]{36}$/);
    const retrieved = await store.asRetriever(1).invoke('an owl hoots at night');
    expect(retrieved.map((d) => d.id)).toEqual(['owl-1']);
    await store.delete({ ids: ['owl-1', added[1]!, 'never-existed'] });
    expect(await client.get(collection, 'owl-1')).toBeNull();
    expect(await client.count(collection)).toBe(texts.length);
  });

  it('refuses metadata the database cannot hold, naming the problem', async () => {
    await expect(store.addDocuments([new Document({ pageContent: 'x', metadata: { nested: { deep: 1 } } })], { ids: ['bad'] }))
      .rejects.toMatchObject({ kind: 'invalid' });
    expect(await client.get(collection, 'bad')).toBeNull();
  });
});
