// A deterministic test embedding: each character trigram of the lower-cased,
// padded text is hashed (FNV-1a) into one of `dimension` buckets with a ±1
// sign; the sum is L2-normalized. Similar strings get similar vectors, the
// same text always the same vector, with no model to download.
import { Embeddings } from '@langchain/core/embeddings';

export function trigramVector(text: string, dimension: number): number[] {
  const vector = new Array<number>(dimension).fill(0);
  const padded = `  ${text.toLowerCase()}  `;
  for (let i = 0; i + 3 <= padded.length; i++) {
    let hash = 0x811c9dc5;
    for (let j = i; j < i + 3; j++) hash = Math.imul(hash ^ padded.charCodeAt(j), 0x01000193) >>> 0;
    vector[hash % dimension]! += hash & 0x8000_0000 ? -1 : 1;
  }
  const norm = Math.hypot(...vector);
  return norm === 0 ? vector.map((_, i) => (i === 0 ? 1 : 0)) : vector.map((v) => v / norm);
}

export class TrigramEmbeddings extends Embeddings {
  constructor(readonly dimension = 64) {
    super({});
  }

  async embedDocuments(texts: string[]): Promise<number[][]> {
    return texts.map((t) => trigramVector(t, this.dimension));
  }

  async embedQuery(text: string): Promise<number[]> {
    return trigramVector(text, this.dimension);
  }
}
