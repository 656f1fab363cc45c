// RFC 8785 JSON Canonicalization Scheme (JCS). Used for the metadata bytes of
// Merkle leaves (docs/format/merkle.md) and the per-record metadata store of
// the metadata index, so equal metadata always has equal bytes.
//
// JCS is defined in terms of ECMAScript: numbers serialize as
// Number.prototype.toString does (JSON.stringify of a finite number), strings
// as JSON.stringify escapes them, and object keys sort by UTF-16 code units,
// which is what the default string comparison of JavaScript does.
import { HyperspaceError } from '../native/errors.ts';

const textEncoder = new TextEncoder();

// A lone surrogate is not Unicode text; I-JSON (which JCS requires) forbids it.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isWellFormedUnicode(text: string): boolean {
  return !loneSurrogate.test(text);
}

/** The canonical JSON text of `value` (null, boolean, finite number, string, array, plain object). */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, 0);
  return parts.join('');
}

/** The canonical JSON of `value` as UTF-8 bytes. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return textEncoder.encode(canonicalJson(value));
}

// Deeper than any metadata can be; guards against cycles and stack exhaustion.
const depthMax = 64;

function write(value: unknown, parts: string[], depth: number): void {
  if (depth > depthMax) throw new HyperspaceError('invalid', `canonical JSON: nesting deeper than ${depthMax}`);
  switch (typeof value) {
    case 'string':
      parts.push(quote(value));
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new HyperspaceError('invalid', `canonical JSON: number ${value} is not finite`);
      parts.push(JSON.stringify(value));
      return;
    case 'boolean':
      parts.push(value ? 'true' : 'false');
      return;
    case 'object':
      if (value === null) {
        parts.push('null');
      } else if (Array.isArray(value)) {
        parts.push('[');
        for (let i = 0; i < value.length; i++) {
          if (i > 0) parts.push(',');
          write(value[i], parts, depth + 1);
        }
        parts.push(']');
      } else {
        const prototype = Object.getPrototypeOf(value);
        if (prototype !== Object.prototype && prototype !== null) {
          throw new HyperspaceError('invalid', 'canonical JSON: only plain objects, arrays and primitives are allowed');
        }
        const record = value as Record<string, unknown>;
        const keys = Object.keys(record).sort();
        parts.push('{');
        for (let i = 0; i < keys.length; i++) {
          if (i > 0) parts.push(',');
          parts.push(quote(keys[i]!), ':');
          write(record[keys[i]!], parts, depth + 1);
        }
        parts.push('}');
      }
      return;
    default:
      throw new HyperspaceError('invalid', `canonical JSON: a ${typeof value} is not a JSON value`);
  }
}

function quote(text: string): string {
  if (!isWellFormedUnicode(text)) throw new HyperspaceError('invalid', 'canonical JSON: string contains a lone surrogate');
  // JSON.stringify escapes exactly as JCS §3.2.2.2 asks: \b \t \n \f \r \" \\,
  // other controls as lowercase \u00xx, everything else (including / and
  // non-ASCII) literal.
  return JSON.stringify(text);
}

/**
 * Compares two well-formed strings by their UTF-8 bytes (= by code points)
 * without encoding them: UTF-16 order differs from it only where a surrogate
 * pair meets a code unit in U+E000..U+FFFF, so lift those above the surrogates.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x < 0xe000 ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}
