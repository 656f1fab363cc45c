// The LangChain.js vector store against running servers (gRPC and HTTP on one
// database), with a deterministic trigram embedding.
import { Document } from '@langchain/core/documents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HyperspaceClient } from '../../client/index.ts';
import { HyperspaceVectorStore } from '../../client/langchain.ts';
import { startGrpcServer, type GrpcServer } from '../../functions/grpc/server.ts';
import { startHarness, type Harness } from '../functions/http-harness.ts';
import { TrigramEmbeddings } from './trigram-embeddings.ts';

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
  let h: Harness;
  let grpcServer: GrpcServer;
  let client: HyperspaceClient;
  let store: HyperspaceVectorStore;
  const embeddings = new TrigramEmbeddings(64);

  beforeAll(async () => {
    h = await startHarness();
    grpcServer = await startGrpcServer({ db: h.db, port: 0 });
    client = transport === 'grpc' ? HyperspaceClient.grpc(`127.0.0.1:${grpcServer.port}`) : HyperspaceClient.http(h.base);
    store = await HyperspaceVectorStore.fromTexts(texts, metadatas, embeddings, { client, collection: 'notes', ids });
  });
  afterAll(async () => {
    await client.close();
    await grpcServer.close();
    await h.close();
  });

  it('creates the collection from the first embedding and keeps string ids as strings', async () => {
    const info = await client.describeCollection('notes');
    expect(info).toMatchObject({ dimension: 64, metric: 'cosine', count: texts.length });
    const stored = await client.get('notes', '0012');
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
    expect(await client.get('notes', 'owl-1')).toBeNull();
    expect(await client.count('notes')).toBe(texts.length);
  });

  it('refuses metadata the database cannot hold, naming the problem', async () => {
    await expect(store.addDocuments([new Document({ pageContent: 'x', metadata: { nested: { deep: 1 } } })], { ids: ['bad'] }))
      .rejects.toMatchObject({ kind: 'invalid' });
    expect(await client.get('notes', 'bad')).toBeNull();
  });
});
