// Decoding of JSON request bodies: strict UTF-8, a clear message for malformed
// JSON, and numbers JSON.parse turns into ±Infinity (`1e999`) rejected with the
// path of the field, since JSON has no NaN or Infinity and a vector holding one
// must never be stored. (NaN/Infinity sent as strings are not numbers; the
// handlers reject them with the field named.)
import { HyperspaceError } from '../../engine/index.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseJsonBody(body: Uint8Array | string | undefined): unknown {
  let text: string;
  if (body === undefined) text = '';
  else if (typeof body === 'string') text = body;
  else {
    try {
      text = utf8.decode(body);
    } catch {
      throw new HyperspaceError('invalid', 'request body is not valid UTF-8');
    }
  }
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HyperspaceError('invalid', `malformed JSON body: ${(e as Error).message}`);
  }
  // Walking the parsed values is cheaper than scanning the text (a 784-d
  // vector: 784 checks against 15 KB of characters); paths are built only on a hit.
  if (hasNonFinite(value)) {
    const path = nonFinitePath(value, '');
    if (path !== null) throw new HyperspaceError('invalid', `number out of range at ${path || 'the body'}: JSON numbers must be finite float64 values`);
  }
  return value;
}

function hasNonFinite(value: unknown): boolean {
  if (typeof value === 'number') return !Number.isFinite(value);
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasNonFinite(value[i])) return true;
    return false;
  }
  for (const key in value) if (hasNonFinite((value as Record<string, unknown>)[key])) return true;
  return false;
}

/** The JSON path (`points[0].vector[3]`) of the first non-finite number, or null. */
function nonFinitePath(value: unknown, path: string): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? null : path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nonFinitePath(value[i], `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const found = nonFinitePath(item, /^[A-Za-z_$][\w$]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`);
      if (found !== null) return found;
    }
  }
  return null;
}
