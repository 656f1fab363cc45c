// docs/openapi.yaml is the HTTP contract: every documented path and method is
// served and answers a happy call with a documented status, the errors it can
// give are documented, and every route the server has is documented.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../functions/http/router.ts';
import { call, startHarness, type Harness } from './http-harness.ts';

interface Documented {
  operationId: string;
  statuses: Set<number>;
}

/**
 * Reads paths → methods → operationId and response codes from the spec's
 * block layout (two spaces per level). No YAML library is installed; the test
 * below fails if this reading finds nothing, so a layout change cannot pass
 * silently.
 */
function documentedOperations(yaml: string): Map<string, Documented> {
  const out = new Map<string, Documented>();
  const lines = yaml.split('\n');
  const start = lines.indexOf('paths:');
  let path = '';
  let current: Documented | undefined;
  let inResponses = false;
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break; // components:
    let m: RegExpExecArray | null;
    if ((m = /^ {2}(\/\S*):$/.exec(line))) {
      path = m[1];
      current = undefined;
    } else if ((m = /^ {4}(get|post|delete|put|patch|options):$/.exec(line))) {
      current = { operationId: '', statuses: new Set() };
      out.set(`${m[1].toUpperCase()} ${path}`, current);
      inResponses = false;
    } else if (current && (m = /^ {6}operationId: (\S+)$/.exec(line))) {
      current.operationId = m[1];
    } else if (current && /^ {6}responses:$/.test(line)) {
      inResponses = true;
    } else if (current && /^ {6}\S/.test(line)) {
      inResponses = false;
    } else if (current && inResponses && (m = /^ {8}'(\d{3})':/.exec(line))) {
      current.statuses.add(Number(m[1]));
    }
  }
  return out;
}

const documented = documentedOperations(readFileSync(new URL('../../docs/openapi.yaml', import.meta.url), 'utf8'));
const served = new Map(routes.map((r) => [`${r.method} ${r.path}`, r.operation]));

let h: Harness;
const observed: { key: string; status: number }[] = [];

async function hit(key: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<number> {
  const method = key.split(' ')[0];
  const reply = await call(h.base, method, path, body, headers);
  observed.push({ key, status: reply.status });
  return reply.status;
}

beforeAll(async () => {
  h = await startHarness();
});

afterAll(async () => {
  await h.close();
});

describe('docs/openapi.yaml matches the server', () => {
  it('documents exactly the routes the server has, with the same operation names', () => {
    expect(documented.size).toBeGreaterThanOrEqual(15);
    expect([...documented.keys()].sort()).toEqual([...served.keys()].sort());
    for (const [key, doc] of documented) {
      expect(doc.operationId, key).toBe(served.get(key));
      expect(doc.statuses.has(200), `${key} documents 200`).toBe(true);
    }
  });

  it('answers a happy call on every route with 200', async () => {
    const v = [0.1, 0.2, 0.3];
    expect(await hit('GET /v1/health', '/v1/health')).toBe(200);
    expect(await hit('POST /v1/collections', '/v1/collections', { name: 'oa', dimension: 3, metric: 'cosine', hnsw: { m: 8, efConstruction: 32 } })).toBe(200);
    expect(await hit('GET /v1/collections', '/v1/collections')).toBe(200);
    expect(await hit('GET /v1/collections/{name}', '/v1/collections/oa')).toBe(200);
    expect(await hit('POST /v1/collections/{name}/upsert', '/v1/collections/oa/upsert', { points: [{ id: 'p', vector: v, metadata: { tag: 'x' } }, { id: 'q', vector: [0.3, 0.2, 0.1] }] }, { 'idempotency-key': 'k1' })).toBe(200);
    expect(await hit('POST /v1/collections/{name}/search', '/v1/collections/oa/search', { vector: v, k: 1, include: ['metadata'] })).toBe(200);
    expect(await hit('POST /v1/collections/{name}/search-batch', '/v1/collections/oa/search-batch', { searches: [{ vector: v }, { vector: v, k: 2 }] })).toBe(200);
    expect(await hit('GET /v1/collections/{name}/points/{id}', '/v1/collections/oa/points/p')).toBe(200);
    expect(await hit('POST /v1/collections/{name}/count', '/v1/collections/oa/count', { filter: { tag: 'x' } })).toBe(200);
    expect(await hit('POST /v1/collections/{name}/scroll', '/v1/collections/oa/scroll', { limit: 1 })).toBe(200);
    expect(await hit('POST /v1/collections/{name}/delete', '/v1/collections/oa/delete', { ids: ['q'] })).toBe(200);
    expect(await hit('POST /v1/collections/{name}/flush', '/v1/collections/oa/flush')).toBe(200);
    expect(await hit('POST /v1/collections/{name}/compact', '/v1/collections/oa/compact')).toBe(200);
    expect(await hit('GET /v1/collections/{name}/digest', '/v1/collections/oa/digest')).toBe(200);
    expect(await hit('POST /v1/collections/{name}/sync/changes', '/v1/collections/oa/sync/changes', { afterSeq: 0 })).toBe(200);
    expect(await hit('POST /v1/collections/{name}/sync/pull', '/v1/collections/oa/sync/pull', { expand: ['00'], ids: ['p'] })).toBe(200);
    expect(await hit('GET /metrics', '/metrics')).toBe(200);
    expect(await hit('DELETE /v1/collections/{name}', '/v1/collections/oa')).toBe(200);
    expect(new Set(observed.map((o) => o.key))).toEqual(new Set(documented.keys()));
  });

  it('documents the errors each route gives', async () => {
    await hit('POST /v1/collections', '/v1/collections', { name: 'oa2', dimension: 0, metric: 'l2' });
    await hit('POST /v1/collections', '/v1/collections', { name: 'oa2', dimension: 2, metric: 'l2' });
    await hit('POST /v1/collections', '/v1/collections', { name: 'oa2', dimension: 2, metric: 'l2' });
    for (const [key] of documented) {
      if (!key.includes('{name}')) continue;
      const [method, template] = key.split(' ');
      await hit(key, template.replace('{name}', 'missing').replace('{id}', 'x'));
      if (method === 'POST') {
        await hit(key, template.replace('{name}', 'oa2'), '{"broken": ');
        await hit(key, template.replace('{name}', 'oa2'), '{}', { 'x-timeout-ms': '0' });
      }
    }
    const undocumented = observed.filter((o) => !documented.get(o.key)!.statuses.has(o.status));
    expect(undocumented).toEqual([]);
    expect(observed.filter((o) => o.status === 404).map((o) => o.key)).toEqual([...documented.keys()].filter((k) => k.includes('{name}')));
  });
});
