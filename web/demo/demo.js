// The demo page: a local collection in IndexedDB, searched with the WASM
// core, synced with the server that serves this page (docs/web.md).
import * as hs from '/demo/hyperspace-web.js';

const $ = (id) => document.getElementById(id);
const log = (line) => { $('log').textContent += `${new Date().toISOString().slice(11, 23)} ${line}\n`; $('log').scrollTop = 1e9; };
const DIMENSION = 32;

const db = await hs.openBrowserDatabase('hyperspace-demo');
window.demo = { hs, db };
$('status').textContent = `kernels: ${hs.kernelName} · opened IndexedDB in ${db.loadMs.toFixed(1)} ms · ` +
  `${db.listCollections().map((c) => `${c.name}: ${c.count} records`).join(', ') || 'no local collections yet'}`;
$('apiKey').value = localStorage.getItem('hyperspace-api-key') ?? '';
$('apiKey').addEventListener('change', () => localStorage.setItem('hyperspace-api-key', $('apiKey').value));

function seededRandom(seed) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}

/** Clustered vectors; for poincare scaled into the ball. */
function dataSet(n, metric) {
  const next = seededRandom(42), centres = [];
  for (let c = 0; c < 16; c++) centres.push(Float32Array.from({ length: DIMENSION }, () => next() * 2 - 1));
  return Array.from({ length: n }, (_, i) => {
    const c = i % centres.length;
    const v = Float32Array.from(centres[c], (x) => x + (next() - 0.5) * 0.4);
    if (metric === 'poincare') { const norm = Math.hypot(...v); for (let j = 0; j < v.length; j++) v[j] *= 0.9 / (1 + norm); }
    return { id: `p${i}`, vector: v, metadata: { cluster: `c${c}`, n: i } };
  });
}

async function collection(create) {
  const name = $('collection').value;
  if (db.listCollections().some((c) => c.name === name)) return db.collection(name);
  if (!create) throw new hs.HyperspaceError('not_found', `collection not found: name=${name} (load the data set or sync first)`);
  return db.createCollection(name, { dimension: DIMENSION, metric: $('metric').value });
}

function run(button, task) {
  $(button).addEventListener('click', async () => {
    $(button).disabled = true;
    try { await task(); } catch (e) { log(`${e.kind ?? 'error'}: ${e.message}`); } finally { $(button).disabled = false; }
  });
}

run('load', async () => {
  const c = await collection(true);
  const points = dataSet(Number($('count').value), c.config.metric);
  const started = performance.now();
  for (let i = 0; i < points.length; i += 1000) await c.upsert(points.slice(i, i + 1000));
  await c.flush();
  log(`loaded ${points.length} vectors into ${c.name} (${c.config.metric}) and indexed them in ${(performance.now() - started).toFixed(0)} ms`);
});

run('search', async () => {
  const c = await collection(false);
  const query = dataSet(1 + Math.floor(Math.random() * 50), c.config.metric).pop().vector;
  const started = performance.now();
  const { hits } = await c.search(query, { k: 10, include: ['metadata'] });
  const ms = performance.now() - started;
  $('hits').innerHTML = hits.map((h, i) => `<tr><td>${i + 1}</td><td>${h.id}</td><td>${h.distance.toFixed(5)}</td><td>${JSON.stringify(h.metadata)}</td></tr>`).join('');
  log(`search over ${c.describe().count} records: ${ms.toFixed(2)} ms`);
});

run('drop', async () => {
  await db.dropCollection($('collection').value);
  $('hits').innerHTML = '';
  log(`dropped the local copy of ${$('collection').value}`);
});

function server() {
  return new hs.HttpServer({ url: location.origin, apiKey: $('apiKey').value || undefined });
}

run('push', async () => {
  const c = await collection(false);
  const s = server();
  await s.ensureCollection(c.name, c.config);
  let pushed = 0;
  for (let cursor = null; ;) {
    const page = await c.scroll({ cursor, limit: 500 });
    await s.upsert(c.name, page.points);
    pushed += page.points.length;
    $('progress').textContent = `pushed ${pushed}`;
    if (!(cursor = page.nextCursor)) break;
  }
  log(`pushed ${pushed} records to the server's ${c.name}`);
  // From now on the server orders writes: the local copy becomes its replica.
  await db.dropCollection(c.name);
  const report = await hs.syncFromServer(db, s, c.name);
  log(`the local ${c.name} is now a replica of the server's (${report.upserts} records, root ${report.root.slice(0, 16)}…)`);
});

run('sync', async () => {
  const name = $('collection').value;
  const report = await hs.syncFromServer(db, server(), name, {
    onProgress: (p) => { $('progress').textContent = `${p.phase}: ${p.requests} requests, ${p.bytes} bytes`; },
  });
  log(`sync of ${name} (${report.mode}): ${report.upserts} upserts, ${report.deletes} deletes, ${report.bytes} bytes in ${report.ms.toFixed(0)} ms; root ${report.root.slice(0, 16)}… at server seq ${report.sourceSeq}`);
});
