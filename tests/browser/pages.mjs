// Drives the bundled pages in headless Chromium over the DevTools protocol
// against a running server: create/update/delete flows on each page that
// calls GraphQL (dashboard, sandbox) or the data API (console).
// usage: node --experimental-websocket check.mjs BASE_URL SETUP_TOKEN OUTDIR
// SY_ASSETS=playground serves /dashboard, /sandbox, /console and
// /playground/* from that directory instead of the server (to try page
// changes without a rebuild). The driver: ./lib.mjs.
import http from 'node:http';
import { problems as consoleErrors, startChrome } from './lib.mjs';

const [base, token, outDir] = process.argv.slice(2);
const PASSWORD = 'a long enough password';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = [];
const check = (name, ok, detail) => { results.push({ name, ok, detail }); console.log((ok ? 'PASS ' : 'FAIL ') + name + (detail ? ' — ' + detail : '')); };

// ---- a receiver that fails every delivery (so the dashboard has a failed one to retry)
const hits = [];
const rx = http.createServer((req, res) => { let b = ''; req.on('data', (c) => b += c); req.on('end', () => { hits.push(b); res.statusCode = 500; res.end('no'); }); });
await new Promise((r) => rx.listen(0, '127.0.0.1', r));
const rxUrl = `http://127.0.0.1:${rx.address().port}/hook`;

// ---- sign in as the owner through the setup link
let res = await fetch(base + '/auth/setup', { method: 'POST', headers: { 'content-type': 'application/json', 'x-switchyard-csrf': '1' }, body: JSON.stringify({ token, password: PASSWORD }) });
const cookie = (res.headers.get('set-cookie') || '').split(';')[0];
check('setup signs in', res.status === 200 && cookie.startsWith('sy_session='), res.status + ' ' + cookie.slice(0, 12));
const gql = async (query, variables) => {
  const r = await fetch(base + '/graphql', { method: 'POST', headers: { 'content-type': 'application/json', 'x-switchyard-csrf': '1', cookie }, body: JSON.stringify({ query, variables }) });
  return r.json();
};
let out = await gql('mutation($i: CreateDataEndpointInput!) { createDataEndpoint(input: $i) { dataEndpoint { id } secret userErrors { code } } }', { i: { slug: 'orders', name: 'Orders' } });
check('createDataEndpoint (API)', !!out.data?.createDataEndpoint?.dataEndpoint, JSON.stringify(out).slice(0, 200));
out = await gql('mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } userErrors { code } } }', { i: { url: rxUrl, eventTypes: ['api_key.*'], retryPolicy: { kind: 'CUSTOM', delaysSeconds: [] } } });
check('createWebhook (API)', !!out.data?.createWebhook?.webhook, JSON.stringify(out).slice(0, 200));
out = await gql('mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } userErrors { code } } }', { i: { url: rxUrl + '/off', eventTypes: ['user.*'], enabled: false } });
check('createWebhook disabled (API)', out.data?.createWebhook?.webhook, JSON.stringify(out).slice(0, 200));
out = await gql('mutation { createApiKey(input: { name: "makes an event", scopes: [READ] }) { secret userErrors { code } } }');
check('createApiKey (API)', out.data?.createApiKey?.secret?.startsWith('sk_test_'), '');
for (let i = 0; i < 100 && hits.length < 1; i++) await sleep(100);
check('the receiver got the failing delivery', hits.length >= 1, String(hits.length));
await sleep(500);

// ---- Chromium over CDP
const port = 9400 + Math.floor(Math.random() * 500);
const browser = await startChrome({ cdpPort: port, profile: outDir + '/profile', base, out: outDir,
  windowSize: '1280,1800', logErrors: false, emulate: false });
const { send, shot } = browser;
await send('Network.enable');
const evaluate = async (expr) => { const r = await send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true }); return r.result?.value; };
const waitFor = async (expr, ms = 10000) => { const end = Date.now() + ms; while (Date.now() < end) { const v = await evaluate(expr); if (v) return v; await sleep(100); } return null; };
await send('Page.addScriptToEvaluateOnNewDocument', { source: 'window.confirm = () => true;' });
const [cname, cval] = cookie.split('=');
await send('Network.setCookie', { name: cname, value: cval, url: base });
const open = async (path) => { await send('Page.navigate', { url: base + path }); await sleep(1500); };

// Dashboard: the webhook picker (enabled), retry a failed delivery, requeue dead jobs.
await open('/dashboard');
const labels = await waitFor(`(() => { const o = [...document.querySelectorAll('#deliveries-webhook option')].map(o => o.textContent); return o.some(t => t.includes('(disabled)')) ? o.join(' | ') : null })()`);
check('dashboard: webhook picker marks the disabled webhook', !!labels, labels);
const retryBtn = await waitFor(`(() => { const b = [...document.querySelectorAll('#deliveries-panel button')].find(b => b.textContent === 'Retry'); if (b) { b.click(); return true } return false })()`);
check('dashboard: a failed attempt has a Retry button', !!retryBtn, '');
const retried = await waitFor(`(() => { const s = [...document.querySelectorAll('#deliveries-panel .sy-retry-result')].map(e => e.textContent).find(t => t && t !== 'Retrying…'); return s || null })()`);
check('dashboard: retryDelivery through the page', retried && retried.startsWith('Retry queued'), retried);
await evaluate(`document.getElementById('requeue').click()`);
const requeued = await waitFor(`(() => { const t = document.getElementById('requeue-result').textContent; return t && t !== 'Requeueing…' ? t : null })()`);
check('dashboard: requeueDeadJobs through the page', requeued && requeued.startsWith('Requeued'), requeued);
await shot('dashboard');

// Sandbox: create a test key (createDataKey), then create, replace, delete a record.
await open('/sandbox');
await waitFor(`!document.getElementById('sb-endpoint').disabled`);
await evaluate(`document.getElementById('sb-create-key').click()`);
const key = await waitFor(`(() => { const v = document.getElementById('sb-key').value; return v.startsWith('tm_test_') ? v : null })()`);
check('sandbox: createDataKey fills a tm_test_ key', !!key, (key || '').slice(0, 12) + '… ' + await evaluate(`document.getElementById('sb-key-status').textContent`));
const sbSend = async (method, body, id) => {
  await evaluate(`(() => { document.querySelector('input[name=method][value=${method}]').click();
    const i = document.getElementById('sb-id'); i.value = ${JSON.stringify(id || '')}; i.dispatchEvent(new Event('input'));
    const t = document.getElementById('sb-body'); t.value = ${JSON.stringify(body || '')}; t.dispatchEvent(new Event('input'));
    document.getElementById('sb-result').textContent = ''; document.getElementById('sb-send').click(); })()`);
  return waitFor(`(() => { const t = document.getElementById('sb-result').textContent.trim(); const r = document.getElementById('sb-response'); return t && !t.endsWith('…') && !r.hidden ? t + ' :: ' + r.textContent : null })()`);
};
let r1 = await sbSend('POST', '{"order_id": "A-1", "amount": 1}');
const recId = (/"id":\s*"(rec_[^"]+)"/.exec(r1 || '') || [])[1];
check('sandbox: POST creates a record', r1 && r1.includes('202') && !!recId, (r1 || '').slice(0, 160));
await sleep(800);
let r2 = await sbSend('PUT', '{"order_id": "A-1", "amount": 2}', recId);
check('sandbox: PUT replaces it', r2 && r2.includes('202'), (r2 || '').slice(0, 120));
await sleep(800);
let r3 = await sbSend('DELETE', '', recId);
check('sandbox: DELETE deletes it', r3 && r3.includes('202'), (r3 || '').slice(0, 120));
await shot('sandbox');

// Console: create, replace, delete a live record (REST with the owner's live key).
await open('/console');
await waitFor(`!document.getElementById('co-endpoint').disabled`);
const coDo = async (btn, body, id) => {
  await evaluate(`(() => { const i = document.getElementById('co-id'); i.value = ${JSON.stringify(id || '')}; i.dispatchEvent(new Event('input'));
    const t = document.getElementById('co-body'); t.value = ${JSON.stringify(body || '')}; t.dispatchEvent(new Event('input'));
    document.getElementById('co-result').textContent = ''; document.getElementById('${btn}').click(); })()`);
  return waitFor(`(() => { const t = document.getElementById('co-result').textContent.trim(); const r = document.getElementById('co-response'); return t && !t.endsWith('…') && !r.hidden ? t + ' :: ' + r.textContent : null })()`);
};
let c1 = await coDo('co-create', '{"order_id": "L-1", "amount": 5}');
const liveId = (/"id":\s*"(rec_[^"]+)"/.exec(c1 || '') || [])[1];
check('console: Create', c1 && c1.includes('202') && !!liveId, (c1 || '').slice(0, 160));
await sleep(800);
let c2 = await coDo('co-replace', '{"order_id": "L-1", "amount": 6}', liveId);
check('console: Replace', c2 && c2.includes('202'), (c2 || '').slice(0, 120));
await sleep(800);
let c3 = await coDo('co-delete', '', liveId);
check('console: Delete', c3 && c3.includes('202'), (c3 || '').slice(0, 120));
await shot('console');

check('no page script errors', consoleErrors.length === 0, consoleErrors.join(' || ').slice(0, 400));
await browser.close(); rx.close();
const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed}/${results.length} checks passed`);
process.exit(failed ? 1 : 0);
