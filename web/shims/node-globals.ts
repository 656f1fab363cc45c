// Node globals the engine uses, injected into the browser bundle by esbuild
// (web/build.ts): Buffer's base64url/utf8 conversions (scroll cursors) and
// setInterval with unref() (the background indexer's timer).
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

type Encoding = 'utf8' | 'base64url';

class BrowserBuffer {
  private constructor(private readonly bytes: Uint8Array) {}
  static from(text: string, encoding: Encoding = 'utf8'): BrowserBuffer {
    if (encoding === 'utf8') return new BrowserBuffer(utf8.encode(text));
    if (encoding === 'base64url') return new BrowserBuffer(fromBase64Url(text));
    throw new Error(`Buffer shim: unsupported encoding ${encoding as string}`);
  }
  toString(encoding: Encoding = 'utf8'): string {
    if (encoding === 'utf8') return fromUtf8.decode(this.bytes);
    if (encoding === 'base64url') return toBase64Url(this.bytes);
    throw new Error(`Buffer shim: unsupported encoding ${encoding as string}`);
  }
}
export { BrowserBuffer as Buffer };

interface Timer { id: ReturnType<typeof globalThis.setInterval>; unref(): Timer; ref(): Timer }

function browserSetInterval(fn: () => void, ms?: number): Timer {
  return { id: globalThis.setInterval(fn, ms), unref() { return this; }, ref() { return this; } };
}
function browserClearInterval(t: Timer | number | undefined): void {
  globalThis.clearInterval(typeof t === 'object' && t !== null ? t.id : t);
}
export { browserSetInterval as setInterval, browserClearInterval as clearInterval };
