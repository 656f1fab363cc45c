// A LangChain.js vector store on the HyperspaceDB SDK (docs/sdk.md#langchain).
//
//   const store = await HyperspaceVectorStore.fromTexts(texts, metadatas, embeddings,
//     { client: HyperspaceClient.grpc('127.0.0.1:50051'), collection: 'docs' });
//   const hits = await store.similaritySearch('what is a vector database?', 4, { lang: 'en' });
//
// Each document is one record: its id (kept as the caller's string), its
// embedding, and its metadata with the page content under `textKey`.
// Filters are HyperspaceDB metadata filters (docs/filters.md), passed through
// unchanged. Scores are distances: smaller is closer, for every metric.
import { Document, type DocumentInterface } from '@langchain/core/documents';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { maximalMarginalRelevance } from '@langchain/core/utils/math';
import { VectorStore, type MaxMarginalRelevanceSearchOptions } from '@langchain/core/vectorstores';
import { HyperspaceClientError, type CollectionConfig, type Consistency, type Filter, type HyperspaceClient, type Metadata } from './index.ts';

export interface HyperspaceVectorStoreArgs {
  client: HyperspaceClient;
  collection: string;
  /**
   * How to create the collection when the first write finds it missing (its
   * dimension is taken from the first embedding). Default: cosine, no quantization.
   */
  create?: Omit<CollectionConfig, 'dimension'>;
  /** Metadata key that holds the page content. Default `text`. */
  textKey?: string;
  /** Consistency of searches. Default strong (read-your-writes). */
  consistency?: Consistency;
}

export interface AddOptions {
  /** One id per document; default: each document's `id`, else a random UUID. */
  ids?: string[];
}

export class HyperspaceVectorStore extends VectorStore {
  declare FilterType: Filter;

  readonly client: HyperspaceClient;
  readonly collection: string;
  readonly textKey: string;
  private readonly create: Omit<CollectionConfig, 'dimension'>;
  private readonly consistency: Consistency | undefined;
  private collectionReady = false;

  constructor(embeddings: EmbeddingsInterface, args: HyperspaceVectorStoreArgs) {
    super(embeddings, args);
    this.client = args.client;
    this.collection = args.collection;
    this.textKey = args.textKey ?? 'text';
    this.create = args.create ?? { metric: 'cosine' };
    this.consistency = args.consistency;
  }

  _vectorstoreType(): string {
    return 'hyperspace';
  }

  async addDocuments(documents: DocumentInterface[], options?: AddOptions): Promise<string[]> {
    const vectors = await this.embeddings.embedDocuments(documents.map((d) => d.pageContent));
    return this.addVectors(vectors, documents, options);
  }

  async addVectors(vectors: number[][], documents: DocumentInterface[], options: AddOptions = {}): Promise<string[]> {
    if (vectors.length !== documents.length) {
      throw new HyperspaceClientError('invalid', `addVectors: ${vectors.length} vectors for ${documents.length} documents`);
    }
    if (options.ids && options.ids.length !== documents.length) {
      throw new HyperspaceClientError('invalid', `addVectors: ${options.ids.length} ids for ${documents.length} documents`);
    }
    if (documents.length === 0) return [];
    const ids = documents.map((d, i) => options.ids?.[i] ?? d.id ?? globalThis.crypto.randomUUID());
    await this.ensureCollection(vectors[0]!.length);
    const points = documents.map((d, i) => ({
      id: ids[i]!, vector: vectors[i]!, metadata: { ...(d.metadata as Metadata), [this.textKey]: d.pageContent },
    }));
    await this.client.upsert(this.collection, points);
    return ids;
  }

  async similaritySearchVectorWithScore(query: number[], k: number, filter?: this['FilterType']): Promise<[DocumentInterface, number][]> {
    const { hits } = await this.client.search(this.collection, {
      vector: query, k, filter: filter ?? null, include: ['metadata'], consistency: this.consistency,
    });
    return hits.map((hit) => [this.toDocument(hit.id, hit.metadata ?? {}), hit.distance]);
  }

  /**
   * Fetches `fetchK` candidates (default 20) with their vectors and picks `k`
   * that balance closeness to the query against diversity (`lambda` 1 = only
   * closeness, 0 = only diversity; default 0.5).
   */
  async maxMarginalRelevanceSearch(query: string, options: MaxMarginalRelevanceSearchOptions<this['FilterType']>): Promise<DocumentInterface[]> {
    const { k, fetchK = 20, lambda = 0.5, filter } = options;
    const queryVector = await this.embeddings.embedQuery(query);
    const { hits } = await this.client.search(this.collection, {
      vector: queryVector, k: Math.max(k, fetchK), filter: filter ?? null, include: ['metadata', 'vector'], consistency: this.consistency,
    });
    if (hits.length === 0) return [];
    const chosen = maximalMarginalRelevance(queryVector, hits.map((h) => Array.from(h.vector!)), lambda, k);
    return chosen.map((i) => this.toDocument(hits[i]!.id, hits[i]!.metadata ?? {}));
  }

  /** Deletes documents by id; missing ids are no-ops. */
  async delete(params: { ids: string[] }): Promise<void> {
    if (params.ids.length > 0) await this.client.delete(this.collection, params.ids);
  }

  static async fromTexts(texts: string[], metadatas: object[] | object, embeddings: EmbeddingsInterface, args: HyperspaceVectorStoreArgs & AddOptions): Promise<HyperspaceVectorStore> {
    const documents = texts.map((pageContent, i) =>
      new Document({ pageContent, metadata: (Array.isArray(metadatas) ? metadatas[i] : metadatas) ?? {} }));
    return HyperspaceVectorStore.fromDocuments(documents, embeddings, args);
  }

  static async fromDocuments(documents: DocumentInterface[], embeddings: EmbeddingsInterface, args: HyperspaceVectorStoreArgs & AddOptions): Promise<HyperspaceVectorStore> {
    const store = new HyperspaceVectorStore(embeddings, args);
    await store.addDocuments(documents, args.ids ? { ids: args.ids } : {});
    return store;
  }

  private toDocument(id: string, metadata: Metadata): DocumentInterface {
    const { [this.textKey]: text, ...rest } = metadata;
    return new Document({ id, pageContent: typeof text === 'string' ? text : '', metadata: rest });
  }

  /** Creates the collection on the first write if it does not exist (another writer may win the race: fine). */
  private async ensureCollection(dimension: number): Promise<void> {
    if (this.collectionReady) return;
    try {
      await this.client.describeCollection(this.collection);
    } catch (e) {
      if (!(e instanceof HyperspaceClientError) || e.kind !== 'not_found') throw e;
      try {
        await this.client.createCollection(this.collection, { ...this.create, dimension });
      } catch (created) {
        if (!(created instanceof HyperspaceClientError) || created.kind !== 'conflict') throw created;
      }
    }
    this.collectionReady = true;
  }
}
