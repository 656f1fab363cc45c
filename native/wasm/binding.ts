// The WebAssembly build of the core behind the same binding interface as the
// Node addon (native/binding/addon.cc), so the one typed facade
// (native/index.ts) validates and words errors for both. Environment-neutral:
// the caller hands over the .wasm bytes (Node tests) or its response (browser).
//
// Memory: arguments are copied into linear memory and results copied out.
// An open index keeps its own copy of the blob in linear memory (the browser
// has no mmap), freed when the handle is garbage collected.
import createHyperspaceWasm from './dist/hyperspace-wasm.mjs';

interface WasmModule {
  HEAPU8: Uint8Array;
  _hs_last_error(): number;
  _hs_last_error_kind(): number;
  _hs_kernel_name(): number;
  _hs_alloc(bytes: number): number;
  _hs_free(pointer: number): void;
  _hs_crc32c(data: number, n: number, seed: number): number;
  _hs_build(vectors: number, dimension: number, count: number, metric: number, quant: number, m: number,
    efConstruction: number, seed: number, outBytes: number): number;
  _hs_flat_search(vectors: number, count: number, dimension: number, metric: number, query: number, k: number,
    allow: number, deleted: number, outPositions: number, outDistances: number): number;
  _hs_index_open(bytes: number, size: number, verify: number): number;
  _hs_index_close(index: number): void;
  _hs_index_info(index: number, out9: number): void;
  _hs_index_search(index: number, query: number, k: number, ef: number, rerank: number, flatThreshold: number,
    allow: number, deleted: number, outPositions: number, outDistances: number): number;
  _hs_kernel(reference: number, op: number, a: number, b: number, n: number): number;
}

export interface WasmSearchOptions {
  k: number; ef: number; rerank: number; flatThreshold: number;
  allow: Uint8Array | null; deleted: Uint8Array | null;
}

export interface WasmIndexInfo {
  dimension: number; count: number; metric: number; quantization: number; m: number;
  efConstruction: number; maxLevel: number; bytes: number; vectorsOffset: number;
}

/** What the .wasm can be handed over as. */
export type WasmSource = ArrayBuffer | Uint8Array | WebAssembly.Module | Response | PromiseLike<Response>;

const CRC_CHUNK_BYTES = 1 << 20;

async function instantiate(source: WasmSource, imports: WebAssembly.Imports): Promise<WebAssembly.Instance> {
  if (source instanceof WebAssembly.Module) return WebAssembly.instantiate(source, imports);
  if (source instanceof ArrayBuffer || source instanceof Uint8Array)
    return (await WebAssembly.instantiate(source as BufferSource, imports) as unknown as WebAssembly.WebAssemblyInstantiatedSource).instance;
  const response = await source;
  if (!response.ok) throw new Error(`cannot load the WASM core: HTTP ${response.status} ${response.url}`);
  // Streaming compilation needs the application/wasm content type; fall back to bytes otherwise.
  if (typeof WebAssembly.instantiateStreaming === 'function' && response.headers.get('content-type') === 'application/wasm')
    return (await WebAssembly.instantiateStreaming(response, imports)).instance;
  return (await WebAssembly.instantiate(await response.arrayBuffer(), imports)).instance;
}

/** Instantiate the core; resolves to an object shaped like the Node addon's exports. */
export async function loadWasmBinding(source: WasmSource) {
  let failed: (e: unknown) => void = () => undefined;
  const loadError = new Promise<never>((_, reject) => { failed = reject; });
  const m = (await Promise.race([loadError, createHyperspaceWasm({
    instantiateWasm(imports: WebAssembly.Imports, receive: (instance: WebAssembly.Instance) => void) {
      instantiate(source, imports).then(receive, failed);
      return {};
    },
  })])) as WasmModule;
  return bindingOver(m);
}

export type WasmBinding = ReturnType<typeof bindingOver>;

function bindingOver(m: WasmModule) {
  const decoder = new TextDecoder();
  const cString = (pointer: number): string => {
    const heap = m.HEAPU8;
    let end = pointer;
    while (heap[end] !== 0) end++;
    return decoder.decode(heap.subarray(pointer, end));
  };
  const lastError = (): Error => {
    const e = new Error(cString(m._hs_last_error())) as Error & { kind?: string };
    if (m._hs_last_error_kind() === 1) e.kind = 'data';
    return e;
  };

  // Reusable argument and result areas in linear memory, grown on demand.
  // Views are made after every allocation: growing memory detaches old ones.
  const areas = new Map<string, { pointer: number; bytes: number }>();
  const area = (name: string, bytes: number): number => {
    const held = areas.get(name);
    if (held && held.bytes >= bytes) return held.pointer;
    if (held) m._hs_free(held.pointer);
    const pointer = m._hs_alloc(Math.max(bytes, 64));
    if (pointer === 0) throw new RangeError(`WASM core out of memory (${bytes} bytes)`);
    areas.set(name, { pointer, bytes: Math.max(bytes, 64) });
    return pointer;
  };
  const put = (name: string, data: ArrayBufferView | null): number => {
    if (data === null || data === undefined) return 0;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const pointer = area(name, bytes.length);
    m.HEAPU8.set(bytes, pointer);
    return pointer;
  };
  const copyResults = (n: number, positions: number, distances: number, outPositions: Uint32Array, outDistances: Float32Array, at = 0) => {
    const buffer = m.HEAPU8.buffer;
    outPositions.set(new Uint32Array(buffer, positions, n), at);
    outDistances.set(new Float32Array(buffer, distances, n), at);
  };
  const outputs = (k: number, outPositions: Uint32Array, outDistances: Float32Array): [number, number] => {
    if (outPositions.length < k || outDistances.length < k) throw new RangeError('output arrays shorter than k');
    return [area('positions', 4 * k), area('distances', 4 * k)];
  };
  const bits = (name: string, v: Uint8Array | null | undefined, count: number): number => {
    if (v === null || v === undefined) return 0;
    if (v.length < Math.ceil(count / 8)) throw new RangeError(`${name} bitset too short`);
    return put(name, v);
  };

  // Indexes hold a copy of their blob in linear memory until collected.
  const openIndexes = new FinalizationRegistry<{ index: number; blob: number }>(({ index, blob }) => {
    m._hs_index_close(index);
    m._hs_free(blob);
  });

  class NativeIndex {
    private readonly handle: number;
    private readonly count: number;
    private readonly dimension: number;

    constructor(bytes: Uint8Array, verify: boolean) {
      const blob = m._hs_alloc(bytes.length);
      if (blob === 0) throw new RangeError(`WASM core out of memory (${bytes.length} bytes)`);
      m.HEAPU8.set(bytes, blob);
      const handle = m._hs_index_open(blob, bytes.length, verify ? 1 : 0);
      if (handle === 0) {
        const e = lastError();
        m._hs_free(blob);
        throw e;
      }
      this.handle = handle;
      openIndexes.register(this, { index: handle, blob });
      const info = this.info();
      this.count = info.count;
      this.dimension = info.dimension;
    }

    info(): WasmIndexInfo {
      const out = area('info', 72);
      m._hs_index_info(this.handle, out);
      const v = new Float64Array(m.HEAPU8.buffer, out, 9);
      return { dimension: v[0], count: v[1], metric: v[2], quantization: v[3], m: v[4], efConstruction: v[5],
        maxLevel: v[6], bytes: v[7], vectorsOffset: v[8] };
    }

    search(query: Float32Array, k: number, ef: number, rerank: number, flatThreshold: number,
      allow: Uint8Array | null, deleted: Uint8Array | null, outPositions: Uint32Array, outDistances: Float32Array): number {
      if (query.length !== this.dimension) throw new RangeError('query dimension mismatch');
      k = Math.min(k, this.count);
      const a = bits('allow', allow, this.count), d = bits('deleted', deleted, this.count);
      const [positions, distances] = outputs(k, outPositions, outDistances);
      const q = put('query', query);
      const n = m._hs_index_search(this.handle, q, k, ef, rerank, flatThreshold, a, d, positions, distances);
      copyResults(n, positions, distances, outPositions, outDistances);
      return n;
    }

    /** One thread here: the queries run in turn (a Web Worker is the way to get them off the page's thread). */
    async searchBatch(queries: Float32Array, o: WasmSearchOptions, _threads: number) {
      if (queries.length % this.dimension !== 0) throw new RangeError('queries length is not a multiple of the dimension');
      const nq = queries.length / this.dimension, k = o.k;
      const out = { positions: new Uint32Array(nq * k).fill(0xffffffff), distances: new Float32Array(nq * k).fill(Infinity), counts: new Uint32Array(nq) };
      const positions = new Uint32Array(k), distances = new Float32Array(k);
      for (let i = 0; i < nq; i++) {
        const n = this.search(queries.subarray(i * this.dimension, (i + 1) * this.dimension), k, o.ef, o.rerank, o.flatThreshold,
          o.allow, o.deleted, positions, distances);
        out.positions.set(positions.subarray(0, n), i * k);
        out.distances.set(distances.subarray(0, n), i * k);
        out.counts[i] = n;
      }
      return out;
    }
  }

  return {
    kernelName(): string {
      return cString(m._hs_kernel_name());
    },

    crc32c(bytes: Uint8Array, seed = 0): number {
      let crc = seed >>> 0; // chainable: the CRC of nothing is the seed
      for (let at = 0; at < bytes.length; at += CRC_CHUNK_BYTES) {
        const chunk = bytes.subarray(at, at + CRC_CHUNK_BYTES);
        crc = m._hs_crc32c(put('crc', chunk), chunk.length, crc) >>> 0;
      }
      return crc;
    },

    /** Single-threaded in WASM; resolves on the same turn's microtask queue. */
    async build(vectors: Float32Array, dimension: number, count: number, metric: number, quant: number,
      mLinks: number, efConstruction: number, seed: number, _threads: number): Promise<Uint8Array> {
      if (vectors.length !== dimension * count) throw new RangeError('vectors length does not match count x dimension');
      const input = m._hs_alloc(vectors.byteLength);
      if (input === 0) throw new RangeError(`WASM core out of memory (${vectors.byteLength} bytes)`);
      try {
        m.HEAPU8.set(new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength), input);
        const size = area('size', 4);
        const blob = m._hs_build(input, dimension, count, metric, quant, mLinks, efConstruction, seed, size);
        if (blob === 0) throw lastError();
        const bytes = new Uint32Array(m.HEAPU8.buffer, size, 1)[0];
        const out = m.HEAPU8.slice(blob, blob + bytes);
        m._hs_free(blob);
        return out;
      } finally {
        m._hs_free(input);
      }
    },

    mmapFile(path: string): Uint8Array {
      throw new Error(`mmap is not available in the WASM build: ${path}`);
    },

    flatSearch(vectors: Float32Array, count: number, dimension: number, metric: number, query: Float32Array, k: number,
      allow: Uint8Array | null, deleted: Uint8Array | null, outPositions: Uint32Array, outDistances: Float32Array): number {
      if (vectors.length < count * dimension || query.length !== dimension) throw new RangeError('flatSearch: sizes do not match');
      k = Math.min(k, count);
      const a = bits('allow', allow, count), d = bits('deleted', deleted, count);
      const [positions, distances] = outputs(k, outPositions, outDistances);
      const q = put('query', query);
      const v = put('vectors', vectors.subarray(0, count * dimension));
      const n = m._hs_flat_search(v, count, dimension, metric, q, k, a, d, positions, distances);
      copyResults(n, positions, distances, outPositions, outDistances);
      return n;
    },

    NativeIndex,

    /** Kernel agreement (test only): op 0 l2sq, 1 dot, 2 l2sq_i8, 3 dot_i8, 4 hamming; chosen table or scalar reference. */
    kernel(op: number, a: ArrayBufferView, b: ArrayBufferView, n: number, reference: boolean): number {
      const pa = put('kernel-a', a), pb = put('kernel-b', b);
      return m._hs_kernel(reference ? 1 : 0, op, pa, pb, n);
    },
  };
}
