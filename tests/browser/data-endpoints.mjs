// Drives the console's Data endpoints area (`/dashboard#/data-endpoints`)
// in headless Chromium over the DevTools protocol (Node 20 with
// --experimental-websocket, no npm packages). It starts a fresh Switchyard
// (with --allow-private-targets true, so callbacks may go to 127.0.0.1) and a
// local callback receiver that answers after a pause.
//
//   cargo build && node --experimental-websocket tests/browser/data-endpoints.mjs \
//     target/debug/switchyard target/browser-shots [port]
//
// The walk: the server's field errors next to their fields; create an
// endpoint with a JSON Schema and a quota (the callback secret shown once);
// its records open; a test key in one click (the secret shown once); records
// posted with that key (with an X-Webhook-Callback) appear and change live
// over recordStatus — processed with the callback pending, then delivered;
// replaced, then deleted — without a records query; the sandbox link picks
// the endpoint; usage against the quota; edit (a server error next to the
// quota, then saved); disable (403) and enable; a collaborator webhook added
// (secret once) and removed; data keys: create one for a member, disable
// (401), enable, roll (the old secret 401), revoke; rotate the callback
// secret; delete an endpoint (confirmed); screenshots at 1280 and 390 px; a
// collaborator sees endpoints and live records but no owner controls. Exits 1
// on any failed check, JS exception, console error, failed request, HTTP
// error answer or request to another origin.
//
// SY_ASSETS=playground serves the pages' files from that directory instead
// of the binary. The driver: ./lib.mjs.
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { log, check, sleep, q, walk, checkButtonNames, startServer, startChrome, setupSignIn, signInCollaborator,
  sameOriginOnly, checkLabels, shotBoth, pageGql } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || 'target/browser-shots';
const PORT = Number(process.argv[4] || 18530);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9373);
mkdirSync(OUT, { recursive: true });

// ---- the callback receiver: answers 200 after 1.5 s ----
const callbacks = [];
const rx = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    callbacks.push({ headers: req.headers, body });
    setTimeout(() => { res.writeHead(200); res.end('ok'); }, 1500);
  });
});
await new Promise((r) => rx.listen(0, '127.0.0.1', r));
const RX = `http://127.0.0.1:${rx.address().port}/results`;

const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({ bin: BIN, port: PORT, prefix: 'sy-endpoints-',
  cleanup: () => rx.close() });
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/endpoints-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'data-endpoints-', network: true, fillChange: false });
const { evaluate, waitFor, navigate, reload, click, fill, text, visible, activeId, buttonsIn, clickIn, cells, key, shot } = browser;
sameOriginOnly(browser, BASE);

const ready = '!document.getElementById("de-panel").hidden && document.getElementById("de-summary").textContent.indexOf("Loading") === -1';
const epRow = (id) => `#de-rows tr[data-endpoint-id="${id}"]`;
const recRow = (id) => `#de-record-rows tr[data-record-id="${id}"]`;
const dialogValue = () => evaluate('document.querySelector("dialog.sy-dialog input").value');
const closeDialog = async () => {
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('dialog.sy-dialog button'), function (b) { return b.textContent.indexOf('I stored it') === 0; }).click()`);
  await waitFor('!document.querySelector("dialog.sy-dialog")', 'the dialog closed');
};
const post = async (keySecret, method, path, body, extra) => {
  const r = await fetch(BASE + path, { method, headers: { Authorization: 'Bearer ' + keySecret, 'Content-Type': 'application/json', ...(extra || {}) },
    body: body == null ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json().catch(() => null) };
};
// Records, in the page, each state a record's row shows (every 20 ms), and counts records queries.
const RECORDER = `(function(){ window.__seen = {}; window.__rq = 0; setInterval(function () {
  Array.prototype.forEach.call(document.querySelectorAll('#de-record-rows tr[data-record-id]'), function (tr) {
    var s = tr.children[3].textContent + '/' + tr.children[4].textContent.replace(/\\s+/g, ' ').trim();
    var l = window.__seen[tr.dataset.recordId] = window.__seen[tr.dataset.recordId] || [];
    if (l[l.length - 1] !== s) l.push(s); }); }, 20);
  var f = window.fetch; window.fetch = function (u, o) { if (o && typeof o.body === 'string' && o.body.indexOf('records(') >= 0) window.__rq++;
    return f.apply(this, arguments); }; return true })()`;
const seen = (id) => evaluate(`JSON.stringify(window.__seen[${q(id)}] || [])`);
const visibleControls = (sel) => evaluate(`Array.prototype.filter.call(document.querySelectorAll(${q(sel + ' button, ' + sel + ' input, ' + sel + ' textarea, ' + sel + ' select')}),
  function (b) { return b.getClientRects().length; }).map(function (b) { return b.textContent || b.id; })`);

await walk(browser, async () => {
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');
  await navigate(`${BASE}/dashboard#/data-endpoints`);
  await waitFor(ready + ' && document.getElementById("dk-summary").textContent.indexOf("Loading") === -1', 'the Data endpoints area');
  check((await text('#de-summary')).startsWith('No endpoints yet'), 'empty list says so');
  await checkLabels(browser, '#de-panel');
  await waitFor('document.getElementById("de-status").dataset.state === "live"', 'the live pill');

  // ---- field errors ----
  log('create with bad input');
  await fill('#de-n-slug', 'Bad Slug!');
  await fill('#de-n-name', 'Orders');
  await click('#de-form button[type="submit"]');
  await waitFor('!document.getElementById("de-n-slug-error").hidden', 'the slug error');
  log('  slug: ' + await text('#de-n-slug-error'));
  check(await activeId() === 'de-n-slug', 'the server\'s slug error next to the slug, focused');
  await fill('#de-n-slug', 'orders');
  await fill('#de-n-schema', '{"type": "object",');
  await click('#de-form button[type="submit"]');
  await waitFor('!document.getElementById("de-n-schema-error").hidden', 'the schema error');
  check((await text('#de-n-schema-error')).startsWith('Not valid JSON'), 'bad JSON refused next to the schema');
  await shot('01-field-errors', '#de-new');

  // ---- create ----
  log('create an endpoint');
  await fill('#de-n-schema', JSON.stringify({ type: 'object', required: ['order_id'], properties: { order_id: { type: 'string' }, amount: { type: 'number' } } }));
  await fill('#de-n-quota', '1000');
  await click('#de-form button[type="submit"]');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the callback secret dialog');
  const cbSecret = await dialogValue();
  check(/^whsec_/.test(cbSecret), 'the callback signing secret shown once');
  await closeDialog();
  await waitFor('!document.getElementById("de-records").hidden && document.getElementById("de-records-summary").textContent.indexOf("Loading") === -1', 'its records');
  const E = await evaluate('document.querySelector("#de-rows tr[data-endpoint-id]").dataset.endpointId');
  const row = await cells(epRow(E));
  log('  row: ' + JSON.stringify(row));
  check(row[0].includes('/api/v1/data/orders') && row[1] === 'enabled' && row[2] === '0 / 1000' && row[3].includes('order_id required'), 'listed with URL, status, usage, schema');
  check(await evaluate('document.getElementById("de-sandbox-link").getAttribute("href")') === '/sandbox?endpoint=orders', 'the sandbox link names the endpoint');

  // ---- a test key ----
  log('a test key');
  await click('#dk-test');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the key dialog');
  const testKey = await dialogValue();
  check(/^tm_test_/.test(testKey), 'a tm_test_ key shown once');
  await closeDialog();
  check(!(await evaluate(`document.documentElement.outerHTML.indexOf(${q(testKey)}) >= 0`)), 'the key is gone from the page');
  await waitFor('document.querySelectorAll("#dk-rows tr[data-key-id]").length === 1', 'the key listed');
  check((await cells('#dk-rows tr[data-key-id]'))[1] === 'you', 'the key is the owner\'s');

  // ---- records live ----
  log('records, live');
  await evaluate(RECORDER);
  const bad = await post(testKey, 'POST', '/api/v1/data/orders', { amount: 3 });
  check(bad.status === 400, 'a record missing order_id is refused (400)');
  const r1 = await post(testKey, 'POST', '/api/v1/data/orders', { order_id: 'A-1', amount: 12.5 }, { 'X-Webhook-Callback': RX });
  check(r1.status === 202 && /^rec_/.test(r1.body.id), 'a record accepted (202)');
  const R = r1.body.id;
  await waitFor(`!!document.querySelector(${q(recRow(R))})`, 'the record appears live', 15000);
  await waitFor(`document.querySelector(${q(recRow(R))}).children[4].textContent.indexOf('delivered') === 0`, 'its callback delivered, live', 15000);
  // The recorder looks every 20 ms: the last state may be newer than its last look.
  await waitFor(`(window.__seen[${q(R)}] || []).indexOf('processed/delivered') >= 0`, 'the recorder to see it delivered', 3000);
  log('  states seen: ' + await seen(R));
  const states = JSON.parse(await seen(R));
  check(states[0].startsWith('processed') && states.some((s) => s.includes('pending')) && states[states.length - 1] === 'processed/delivered',
    'processed with the callback pending, then delivered: ' + JSON.stringify(states));
  check(callbacks.length === 1 && /^v1,/.test(callbacks[0].headers['webhook-signature']), 'the callback receiver got a signed result');
  const rc = await cells(recRow(R));
  check(rc[1] === 'test' && rc[2] === 'create', 'environment and operation shown');
  await clickIn(recRow(R), 'Data');
  await waitFor(`!document.getElementById('de-data-${R}').hidden`, 'its data');
  check((await text(`#de-data-${R}`)).includes('"order_id": "A-1"'), 'the record\'s data shown');
  check(await post(testKey, 'PUT', `/api/v1/data/orders/${R}`, { order_id: 'A-1', amount: 20 }).then((x) => x.status) === 202, 'replaced (202)');
  await waitFor(`document.querySelector(${q(recRow(R))}).children[2].textContent === 'replace'`, 'the replacement, live', 15000);
  await waitFor(`document.getElementById('de-data-${R}').textContent.indexOf('"amount": 20') >= 0`, 'the open data updated live');
  check(await post(testKey, 'DELETE', `/api/v1/data/orders/${R}`).then((x) => x.status) === 202, 'deleted (202)');
  await waitFor(`document.querySelector(${q(recRow(R))}).children[3].textContent === 'deleted'`, 'deleted, live', 15000);
  check(await evaluate('window.__rq') === 0, 'every change came over the subscription (no records query)');
  await shotBoth(browser, '02-records', '#de-records');

  // ---- the sandbox link ----
  log('sandbox link');
  await click('#de-sandbox-link');
  await waitFor('location.pathname === "/sandbox" && !document.getElementById("sb-endpoint").disabled', 'the sandbox');
  check(await evaluate('document.getElementById("sb-endpoint").selectedOptions[0].textContent').then((t) => t.includes('(orders)')), 'the sandbox picked the endpoint');
  await navigate(`${BASE}/dashboard#/data-endpoints`);
  await waitFor(ready + ` && !!document.querySelector(${q(epRow(E))})`, 'back');
  const usage = await evaluate(`document.querySelector(${q(epRow(E))}).children[2].textContent`);
  log('  usage: ' + usage);
  check(/^[34] \/ 1000/.test(usage) && await evaluate(`!!document.querySelector(${q(epRow(E) + ' meter')})`),
    'usage this month against the quota, with a meter: ' + usage);

  // ---- edit ----
  log('edit');
  await clickIn(epRow(E), 'Edit');
  const pre = 'de-e-' + E.slice(-8) + '-';
  await waitFor(`!!document.getElementById('${pre}name')`, 'the edit form');
  check(await activeId() === pre + 'name', 'focus on the name');
  await fill('#' + pre + 'quota', '0');
  await evaluate(`document.querySelector('#de-edit-${E} button[type="submit"]').click()`);
  await waitFor(`!document.getElementById('${pre}quota-error').hidden`, 'the quota error');
  log('  quota: ' + await text('#' + pre + 'quota-error'));
  check(await activeId() === pre + 'quota', 'the server\'s error next to the quota');
  await fill('#' + pre + 'quota', '');
  await fill('#' + pre + 'name', 'Shop orders');
  await evaluate(`document.querySelector('#de-edit-${E} button[type="submit"]').click()`);
  await waitFor(`document.querySelector(${q(epRow(E))}).children[2].textContent.indexOf('/ ∞') > 0`, 'saved: unlimited');
  check((await cells(epRow(E)))[0].startsWith('Shop orders'), 'renamed');

  // ---- disable / enable ----
  log('disable, enable');
  await clickIn(epRow(E), 'Disable');
  await waitFor(`document.querySelector(${q(epRow(E))}).children[1].textContent === 'disabled'`, 'disabled');
  const off = await post(testKey, 'POST', '/api/v1/data/orders', { order_id: 'B-1' });
  check(off.status === 403 || off.status === 404, 'a disabled endpoint refuses records (' + off.status + ')');
  await clickIn(epRow(E), 'Enable');
  await waitFor(`document.querySelector(${q(epRow(E))}).children[1].textContent === 'enabled'`, 'enabled');

  // ---- collaborator webhook ----
  log('collaborator webhook');
  await clickIn(epRow(E), 'Records');
  await waitFor('!!document.getElementById("de-collab-url")', 'the collaborator webhook form');
  await fill('#de-collab-url', RX);
  await click('#de-collab .sy-collab-form button');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'its secret');
  check(/^whsec_/.test(await dialogValue()), 'its signing secret shown once');
  await closeDialog();
  await waitFor(`document.querySelectorAll('#de-collab .sy-collab-list code').length === 1`, 'listed');
  await shotBoth(browser, '03-endpoint', '#de-panel');
  await evaluate(`document.querySelector('#de-collab .sy-collab-list button').click()`);
  await waitFor('!!document.querySelector("#de-collab .sy-confirm")', 'the remove confirm step');
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('#de-collab button'), function (b) { return b.textContent === 'Remove webhook'; }).click()`);
  await waitFor(`document.querySelectorAll('#de-collab .sy-collab-list code').length === 0`, 'removed');

  // ---- data keys ----
  log('data keys');
  await fill('#dk-name', 'shop backend');
  await evaluate(`document.getElementById('dk-env-1').click()`);
  await click('#dk-form button[type="submit"]');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the live key');
  const liveKey = await dialogValue();
  check(/^tm_live_/.test(liveKey), 'a tm_live_ key shown once');
  await closeDialog();
  await waitFor('document.querySelectorAll("#dk-rows tr[data-key-id]").length === 2', 'two keys');
  const K = await evaluate(`Array.prototype.find.call(document.querySelectorAll('#dk-rows tr[data-key-id]'), function (r) { return r.textContent.indexOf('shop backend') >= 0; }).dataset.keyId`);
  const kRow = `#dk-rows tr[data-key-id="${K}"]`;
  check(JSON.stringify(await buttonsIn(kRow)) === '["Disable","Roll secret","Revoke"]', 'key controls');
  check(await post(liveKey, 'POST', '/api/v1/data/orders', { order_id: 'L-1' }).then((x) => x.status) === 202, 'the live key works');
  await clickIn(kRow, 'Disable');
  await waitFor(`document.querySelector(${q(kRow)}).children[2].textContent === 'disabled'`, 'disabled');
  check(await post(liveKey, 'POST', '/api/v1/data/orders', { order_id: 'L-2' }).then((x) => x.status) === 401, 'a disabled key gets 401');
  await clickIn(kRow, 'Enable');
  await waitFor(`document.querySelector(${q(kRow)}).children[2].textContent === 'active'`, 'enabled');
  await clickIn(kRow, 'Roll secret');
  await waitFor(`!!document.querySelector(${q(kRow + ' .sy-confirm')})`, 'the roll confirm step');
  await clickIn(kRow, 'Roll now');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the rolled key');
  const rolled = await dialogValue();
  check(/^tm_live_/.test(rolled) && rolled !== liveKey, 'a new secret shown once');
  await closeDialog();
  check(await post(liveKey, 'POST', '/api/v1/data/orders', { order_id: 'L-3' }).then((x) => x.status) === 401, 'the old secret gets 401');
  check(await post(rolled, 'POST', '/api/v1/data/orders', { order_id: 'L-4' }).then((x) => x.status) === 202, 'the new one works');
  await clickIn(kRow, 'Revoke');
  await waitFor(`!!document.querySelector(${q(kRow + ' .sy-confirm')})`, 'the revoke confirm step');
  await clickIn(kRow, 'Revoke key');
  await waitFor(`!document.querySelector(${q(kRow)})`, 'revoked');
  check(await post(rolled, 'POST', '/api/v1/data/orders', { order_id: 'L-5' }).then((x) => x.status) === 401, 'a revoked key gets 401');
  await shot('04-keys', '#dk-section');

  // ---- rotate, delete ----
  log('rotate the callback secret; delete another endpoint');
  await clickIn(epRow(E), 'Rotate callback secret');
  await clickIn(epRow(E), 'Rotate now');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the new callback secret');
  check(/^whsec_/.test(await dialogValue()) && (await dialogValue()) !== cbSecret, 'a new callback secret shown once');
  await closeDialog();
  await pageGql(browser, 'mutation { createDataEndpoint(input: { slug: "scratch", name: "Scratch" }) { dataEndpoint { id } } }');
  await reload();
  await waitFor(ready + ' && document.querySelectorAll("#de-rows tr[data-endpoint-id]").length === 2', 'two endpoints');
  const S = await evaluate('document.querySelector("#de-rows tr[data-endpoint-id]").dataset.endpointId');
  await clickIn(epRow(S), 'Delete');
  await waitFor(`!!document.querySelector(${q(epRow(S) + ' .sy-confirm')})`, 'the delete confirm step');
  await key('Escape', 'Escape', 27);
  check(!(await evaluate(`!!document.querySelector(${q(epRow(S) + ' .sy-confirm')})`)), 'Escape keeps it');
  await clickIn(epRow(S), 'Delete');
  await clickIn(epRow(S), 'Delete endpoint');
  await waitFor(`!document.querySelector(${q(epRow(S))})`, 'deleted');
  await checkButtonNames(browser);

  // ---- a collaborator: endpoints and records, live; no owner controls ----
  log('collaborator');
  const ownerKey = (await pageGql(browser, 'mutation { createDataKey(input: { name: "for the walk" }) { secret } }')).createDataKey.secret;
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#/data-endpoints`);
  await waitFor(ready + ` && !!document.querySelector(${q(epRow(E))})`, 'the collaborator\'s view');
  check(JSON.stringify(await buttonsIn(epRow(E))) === '["Records"]', 'a collaborator gets Records only');
  check(!(await visible('#de-new')) && !(await visible('#dk-section')), 'no create form, no data keys');
  await clickIn(epRow(E), 'Records');
  await waitFor('!document.getElementById("de-records").hidden && document.getElementById("de-records-summary").textContent.indexOf("Loading") === -1', 'the records');
  check(!(await visible('#de-collab')), 'no collaborator webhooks for a collaborator');
  await waitFor('document.getElementById("de-status").dataset.state === "live"', 'live');
  const c1 = await post(ownerKey, 'POST', '/api/v1/data/orders', { order_id: 'C-1' });
  await waitFor(`!!document.querySelector(${q(recRow(c1.body.id))})`, 'a new record appears live for the collaborator', 15000);
  const ctl = await visibleControls('#de-panel');
  log('  controls: ' + JSON.stringify(ctl));
  check(ctl.every((t) => ['Records', 'Close', 'Data'].indexOf(t) >= 0), 'only Records, Close and Data');
  await shotBoth(browser, '05-collaborator', '#de-panel');
}, () => { server.kill('SIGTERM'); rx.close(); }, 'no JS exceptions, no console errors, no failed requests, every check passed');
