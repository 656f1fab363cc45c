// Streaming readers for `hyperspace import`: fvecs and JSONL files turned into
// batches of points, never holding more than one batch (plus one read chunk)
// in memory. Each point remembers where it came from (row or line number), so
// an engine error about "point i" of a batch can name the line in the file.
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { endianness } from 'node:os';
import { HyperspaceError, limits, type PointInput } from '../../engine/index.ts';

export interface SourceBatch {
  points: PointInput[];
  /** Per point: its row (fvecs, from 0) or line (JSONL, from 1) in the file. */
  origins: number[];
  /** Bytes of the file consumed up to the end of this batch. */
  position: number;
}

export interface PointSource {
  /** How a point's origin is named in messages: `row 12`, `line 13`. */
  unit: 'row' | 'line';
  totalBytes: number;
  /** Known up front for fixed-size formats (fvecs); otherwise progress goes by bytes. */
  totalPoints?: number;
  batches: AsyncIterable<SourceBatch>;
}

// A JSONL line holds one vector (≤ dimensionMax numbers as text) plus bounded
// id and metadata; anything longer is not a line we could accept.
export const jsonlLineBytesMax = 64 * 1024 * 1024;
const readChunkBytes = 1024 * 1024;

function fileError(path: string, e: unknown): HyperspaceError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new HyperspaceError('not_found', `file not found: ${path}`);
  if (code === 'EISDIR') return new HyperspaceError('invalid', `is a directory, not a file: ${path}`);
  return new HyperspaceError('unavailable', `cannot read ${path}: ${(e as Error).message}`);
}

async function fileSize(path: string): Promise<number> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return s.size;
  } catch (e) {
    throw fileError(path, e);
  }
}

/**
 * fvecs (the TEXMEX/ann-benchmarks layout): per vector a little-endian i32
 * dimension, then that many little-endian float32. Ids are the row numbers
 * (from 0) as strings, after `idPrefix`.
 */
export async function fvecsSource(path: string, batchSize: number, idPrefix = ''): Promise<PointSource> {
  const totalBytes = await fileSize(path);
  let dimension = 0;
  if (totalBytes > 0) {
    const handle = await open(path, 'r').catch((e) => { throw fileError(path, e); });
    try {
      const header = Buffer.alloc(4);
      const { bytesRead } = await handle.read(header, 0, 4, 0);
      if (bytesRead < 4) throw new HyperspaceError('invalid', `row 0: truncated record: the file has ${totalBytes} bytes, a record header needs 4`);
      dimension = header.readInt32LE(0);
      if (dimension < 1 || dimension > limits.dimensionMax) {
        throw new HyperspaceError('invalid', `row 0: dimension header must be in 1..${limits.dimensionMax}, got ${dimension} (is this an fvecs file?)`);
      }
    } finally {
      await handle.close();
    }
  }
  const recordBytes = 4 + 4 * dimension;
  const littleEndianHost = endianness() === 'LE';
  async function* batches(): AsyncGenerator<SourceBatch> {
    if (totalBytes === 0) return;
    const handle = await open(path, 'r').catch((e) => { throw fileError(path, e); });
    try {
      let row = 0;
      let position = 0;
      while (position < totalBytes) {
        const rows = Math.min(batchSize, Math.ceil((totalBytes - position) / recordBytes));
        // A fresh buffer per batch: the points below are views into it.
        const bytes = new Uint8Array(rows * recordBytes);
        const { bytesRead } = await handle.read(bytes, 0, bytes.length, position);
        const view = new DataView(bytes.buffer);
        const points: PointInput[] = [];
        const origins: number[] = [];
        for (let r = 0; r < rows; r++, row++) {
          const offset = r * recordBytes;
          if (offset + recordBytes > bytesRead) {
            throw new HyperspaceError('invalid', `row ${row}: truncated record: ${bytesRead - offset} bytes left at byte ${position + offset}, a ${dimension}-d record needs ${recordBytes}`);
          }
          const d = view.getInt32(offset, true);
          if (d !== dimension) throw new HyperspaceError('invalid', `row ${row}: dimension header ${d} differs from row 0's ${dimension}`);
          let vector: Float32Array;
          if (littleEndianHost) {
            vector = new Float32Array(bytes.buffer, offset + 4, dimension);
          } else {
            vector = new Float32Array(dimension);
            for (let j = 0; j < dimension; j++) vector[j] = view.getFloat32(offset + 4 + 4 * j, true);
          }
          points.push({ id: `${idPrefix}${row}`, vector });
          origins.push(row);
        }
        position += rows * recordBytes;
        yield { points, origins, position };
      }
    } finally {
      await handle.close();
    }
  }
  return { unit: 'row', totalBytes, totalPoints: dimension ? Math.ceil(totalBytes / recordBytes) : 0, batches: batches() };
}

const jsonlFields = new Set(['id', 'vector', 'metadata']);

/** JSONL: one `{"id": "...", "vector": [...], "metadata": {...}}` per line; blank lines are skipped. */
export async function jsonlSource(path: string, batchSize: number): Promise<PointSource> {
  const totalBytes = await fileSize(path);
  async function* batches(): AsyncGenerator<SourceBatch> {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const stream = createReadStream(path, { highWaterMark: readChunkBytes });
    let carry: Buffer = Buffer.alloc(0);
    let line = 0;
    let position = 0;
    let points: PointInput[] = [];
    let origins: number[] = [];
    const take = (bytes: Buffer): void => {
      line++;
      position += bytes.length + 1;
      let text: string;
      try {
        text = decoder.decode(bytes);
      } catch {
        throw new HyperspaceError('invalid', `line ${line}: not valid UTF-8`);
      }
      if (text.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new HyperspaceError('invalid', `line ${line}: not valid JSON: ${(e as Error).message}`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new HyperspaceError('invalid', `line ${line}: expected an object {"id", "vector", "metadata"?}, got ${Array.isArray(value) ? 'an array' : typeof value}`);
      }
      for (const key of Object.keys(value)) {
        if (!jsonlFields.has(key)) throw new HyperspaceError('invalid', `line ${line}: unknown field ${JSON.stringify(key)} (expected "id", "vector", "metadata")`);
      }
      points.push(value as PointInput);
      origins.push(line);
    };
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
        let start = 0;
        for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
          const end = nl > start && data[nl - 1] === 13 ? nl - 1 : nl;
          take(data.subarray(start, end));
          if (end !== nl) position++; // the \r
          start = nl + 1;
          if (points.length === batchSize) {
            yield { points, origins, position };
            points = [];
            origins = [];
          }
        }
        carry = data.subarray(start);
        if (carry.length > jsonlLineBytesMax) throw new HyperspaceError('too_large', `line ${line + 1}: longer than ${jsonlLineBytesMax} bytes`);
      }
      if (carry.length) {
        take(carry);
        position = totalBytes;
      }
      if (points.length) yield { points, origins, position };
    } catch (e) {
      if (e instanceof HyperspaceError) throw e;
      throw fileError(path, e);
    } finally {
      stream.destroy();
    }
  }
  return { unit: 'line', totalBytes, batches: batches() };
}
