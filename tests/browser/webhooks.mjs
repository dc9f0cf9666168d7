// Drives the console's Webhooks area (`/dashboard#/webhooks`) in headless
// Chromium over the DevTools protocol (Node 20 with --experimental-websocket,
// no npm packages). It starts a fresh Switchyard (with
// --allow-private-targets true, so it may deliver to 127.0.0.1) and a local
// receiver whose answer the script sets (500, 200 or 410 Gone).
//
//   cargo build && node --experimental-websocket tests/browser/webhooks.mjs \
//     target/debug/switchyard target/browser-shots [port]
//
// The walk: the server's field errors next to their fields; add a webhook
// (URL, an event family from the catalog, custom headers, no retries): the
// signing secret shown once; its detail opens; Send test event against a
// failing receiver: the delivery and its attempt appear; an api_key.created
// delivery appears live over deliveryLogs (no deliveries query); one
// delivery's attempts show the request headers (signature redacted, the
// custom header's value redacted), payload and response; Retry one (it
// succeeds live); Retry failed since (all queued again and delivered);
// edit (a server error next to the rate limit, then saved); a receiver
// answering 410 Gone gets the webhook disabled by the server: the reason is
// shown and "Enable again" enables it; rotate the secret; delete
// (confirmed); screenshots at 1280 and 390 px; a collaborator sees no
// webhook controls. Exits 1 on any failed check, JS exception, console
// error, failed request, HTTP error answer or request to another origin.
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
const PORT = Number(process.argv[4] || 18520);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9372);
mkdirSync(OUT, { recursive: true });

// ---- the receiver ----
let answer = 500;
const hits = [];
const rx = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    hits.push({ headers: req.headers, body });
    res.writeHead(answer, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ answered: answer }));
  });
});
await new Promise((r) => rx.listen(0, '127.0.0.1', r));
const RX = `http://127.0.0.1:${rx.address().port}/hooks`;

const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({ bin: BIN, port: PORT, prefix: 'sy-webhooks-',
  cleanup: () => rx.close() });
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/webhooks-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'webhooks-', network: true, fillChange: false });
const { send, evaluate, waitFor, navigate, reload, click, fill, text, visible, activeId, buttonsIn, clickIn, cells, key, shot } = browser;
sameOriginOnly(browser, BASE);

const ready = '!document.getElementById("wh-panel").hidden && document.getElementById("wh-summary").textContent.indexOf("Loading") === -1';
const dRow = (id) => `#wh-delivery-rows tr[data-delivery-id="${id}"]`;
const dStatus = (id) => evaluate(`(function(){ var c = document.querySelector(${q(dRow(id) + ' .sy-status-chip')}); return c ? c.textContent : null })()`);
const deliveryIds = () => evaluate('Array.prototype.map.call(document.querySelectorAll("#wh-delivery-rows tr[data-delivery-id]"), function (r) { return r.dataset.deliveryId; })');
const dialogValue = () => evaluate('document.querySelector("dialog.sy-dialog input").value');
const closeDialog = async () => {
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('dialog.sy-dialog button'), function (b) { return b.textContent.indexOf('I stored it') === 0; }).click()`);
  await waitFor('!document.querySelector("dialog.sy-dialog")', 'the dialog closed');
};
// Counts the page's deliveries queries (the live rows must come without one).
const COUNTER = `(function(){ window.__dq = 0; var f = window.fetch; window.fetch = function (u, o) {
  if (o && typeof o.body === 'string' && o.body.indexOf('deliveries(') >= 0) window.__dq++; return f.apply(this, arguments); }; return true })()`;

await walk(browser, async () => {
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');
  await navigate(`${BASE}/dashboard#/webhooks`);
  await waitFor(ready + ' && !!document.getElementById("wh-n-url")', 'the Webhooks area');
  check((await text('#wh-summary')).startsWith('No webhooks yet'), 'empty list says so');
  check(await evaluate('document.querySelectorAll("#wh-form .sy-event-family").length') >= 5, 'the event catalog as checkboxes, by family');
  await checkLabels(browser, '#wh-panel');
  await waitFor('document.getElementById("wh-status").dataset.state === "live"', 'the live pill');

  // ---- field errors ----
  log('add with bad input');
  await fill('#wh-n-url', 'ftp://example.com/x');
  await click('#wh-form button[type="submit"]');
  await waitFor('!document.getElementById("wh-n-url-error").hidden || !document.getElementById("wh-n-events-error").hidden', 'a field error');
  log('  url: ' + await text('#wh-n-url-error') + ' | events: ' + await text('#wh-n-events-error'));
  check(!!(await text('#wh-n-url-error')) || !!(await text('#wh-n-events-error')), 'the server\'s error next to its field');
  await fill('#wh-n-url', RX);
  await click('#wh-form button[type="submit"]');
  await waitFor('!document.getElementById("wh-n-events-error").hidden', 'the events error');
  check(!!(await text('#wh-n-events-error')), 'no event chosen: the error is next to the events: ' + await text('#wh-n-events-error'));
  check((await activeId()).startsWith('wh-n-events-'), 'focus on the first event box');
  await fill('#wh-n-headers', '{"X-Team": ');
  await evaluate(`document.querySelector('#wh-form input[value="api_key.*"]').click()`);
  await click('#wh-form button[type="submit"]');
  await waitFor('!document.getElementById("wh-n-headers-error").hidden', 'the headers error');
  check((await text('#wh-n-headers-error')).includes('JSON object'), 'bad headers JSON refused in the browser');
  await shot('01-field-errors', '#wh-form');

  // ---- add ----
  log('add a webhook');
  await fill('#wh-n-description', 'Ops receiver');
  await fill('#wh-n-headers', '{"X-Team": "ops", "X-Api-Token": "hunter2"}');
  await evaluate(`(function(){ var s = document.getElementById('wh-n-policy'); s.value = 'CUSTOM'; s.dispatchEvent(new Event('change')); return true })()`);
  check(await visible('#wh-n-delays'), 'a custom policy asks for the waits');
  await fill('#wh-n-delays', '');
  check(await evaluate('document.querySelector(\'#wh-form input[value="api_key.created"]\').disabled'), 'a family pattern covers its types');
  await click('#wh-form button[type="submit"]');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the secret dialog');
  const secret = await dialogValue();
  check(/^whsec_/.test(secret), 'signing secret shown once: ' + secret.slice(0, 10) + '…');
  await shot('02-secret');
  await closeDialog();
  check(!(await evaluate(`document.documentElement.outerHTML.indexOf(${q(secret)}) >= 0`)), 'the secret is gone from the page');
  await waitFor('!document.getElementById("wh-detail").hidden && document.getElementById("wh-deliveries-summary").textContent.indexOf("Loading") === -1', 'the detail');
  const W = await evaluate('document.querySelector("#wh-rows tr[data-webhook-id]").dataset.webhookId');
  const row = await cells(`#wh-rows tr[data-webhook-id="${W}"]`);
  log('  row: ' + JSON.stringify(row));
  check(row[1] === 'api_key.*' && row[2].startsWith('enabled') && row[3] === '100/min' && row[4] === 'No retries', 'listed with events, status, rate limit, retries');
  const facts = await text('#wh-detail-facts');
  check(facts.includes('X-Team') && facts.includes('X-Api-Token') && facts.includes('(values hidden)') && !facts.includes('hunter2'),
    'header names shown, values hidden: ' + facts.slice(facts.indexOf('Custom headers'), facts.indexOf('(values hidden)') + 15));

  // ---- a test event ----
  log('send a test event');
  await evaluate(COUNTER);
  await click('#wh-test');
  await waitFor('document.getElementById("wh-test-result").textContent.indexOf("Test sent") === 0', 'the test result');
  log('  ' + await text('#wh-test-result'));
  check((await text('#wh-test-result')).includes('failed, HTTP 500'), 'the test attempt failed with 500');
  await waitFor('document.querySelectorAll("#wh-delivery-rows tr[data-delivery-id]").length === 1', 'the test delivery');
  const T = (await deliveryIds())[0];
  const trow = await cells(dRow(T));
  log('  delivery: ' + JSON.stringify(trow));
  check(trow[1] === 'webhook.test' && trow[2] === 'failed' && trow[3] === '500' && /ms$/.test(trow[4]) && trow[5] === '1',
    'event, status, HTTP code, duration, attempts');
  check(hits.length === 1 && hits[0].headers['x-team'] === 'ops' && /^v1,/.test(hits[0].headers['webhook-signature']), 'the receiver got a signed POST with the custom header');

  // ---- live over deliveryLogs ----
  log('a delivery made elsewhere appears live');
  await pageGql(browser, 'mutation { createApiKey(input: { name: "makes an event", scopes: [READ] }) { apiKey { id } } }');
  await waitFor('document.querySelectorAll("#wh-delivery-rows tr[data-delivery-id]").length === 2', 'the api_key.created delivery, live', 15000);
  const A = (await deliveryIds())[0];
  check((await cells(dRow(A)))[1] === 'api_key.created', 'the new delivery is on top');
  check(await evaluate('window.__dq') === 0, 'it came over the subscription (no deliveries query)');
  check(await evaluate(`document.querySelector(${q(dRow(A))}).classList.contains('sy-row-new')`), 'the new row is marked');

  // ---- one delivery's attempts ----
  log('attempts');
  await clickIn(dRow(T), 'Attempts');
  await waitFor(`!!document.querySelector('#wh-attempts-${T} .sy-attempt-list li')`, 'the attempts');
  check(await activeId() === 'wh-attempts-title-' + T, 'focus on the delivery heading');
  const headers = await evaluate(`(function(){ var o = {}; Array.prototype.forEach.call(document.querySelectorAll('#wh-attempts-${T} .sy-headers-table tr'), function (tr) {
    o[tr.children[0].textContent] = tr.children[1].textContent; }); return o })()`);
  log('  headers: ' + JSON.stringify(headers));
  check(headers['webhook-signature'] === 'redacted' && headers['X-Api-Token'] === 'redacted' && headers['X-Team'] === 'redacted',
    'signature and custom header values redacted');
  check(headers['webhook-id'] === T && headers['content-type'] === 'application/json', 'the other headers shown');
  check(!(await evaluate(`document.documentElement.outerHTML.indexOf('hunter2') >= 0`)), 'a header secret never reaches the page');
  const payload = await text(`#wh-attempts-${T} .sy-attempt-cols > div:first-child pre`);
  check(payload.includes('"type": "webhook.test"'), 'the payload shown');
  check((await text(`#wh-attempts-${T} .sy-attempt-list`)).includes('{"answered":500}'), 'the response body shown');
  await shotBoth(browser, '03-attempts', '#wh-detail');

  // ---- retry one ----
  log('retry one');
  answer = 200;
  await clickIn(dRow(T), 'Retry');
  await waitFor(`(function(){ var c = document.querySelector(${q(dRow(T) + ' .sy-status-chip')}); return c && c.textContent === 'succeeded' })()`, 'the retried delivery succeeded, live', 15000);
  check((await cells(dRow(T)))[5] === '2' && (await cells(dRow(T)))[3] === '200', 'two attempts, HTTP 200');
  await waitFor(`document.querySelectorAll('#wh-attempts-${T} .sy-attempt-list li').length === 2`, 'the open attempts list has the new one');
  check(await evaluate(`document.querySelector('#wh-attempts-${T} .sy-attempt-list li').dataset.status`) === 'SUCCEEDED', 'the newest attempt succeeded');

  // ---- retry failed since ----
  log('retry all failed');
  answer = 500;
  await pageGql(browser, 'mutation { createApiKey(input: { name: "another", scopes: [READ] }) { apiKey { id } } }');
  await waitFor('document.querySelectorAll("#wh-delivery-rows tr[data-delivery-id]").length === 3', 'a third delivery', 15000);
  await waitFor(`document.querySelectorAll('#wh-delivery-rows .sy-status-chip[data-status="failed"]').length === 2`, 'two failed deliveries');
  answer = 200;
  const hourAgo = new Date(Date.now() - 3600e3);
  const pad = (n) => String(n).padStart(2, '0');
  await fill('#wh-retry-since', `${hourAgo.getFullYear()}-${pad(hourAgo.getMonth() + 1)}-${pad(hourAgo.getDate())}T${pad(hourAgo.getHours())}:${pad(hourAgo.getMinutes())}`);
  await click('#wh-retry-all');
  await waitFor('document.getElementById("wh-retry-result").textContent.indexOf("queued again") > 0', 'the retry-all result');
  log('  ' + await text('#wh-retry-result'));
  check((await text('#wh-retry-result')).startsWith('2 failed deliveries queued again'), 'both failed deliveries queued again');
  await waitFor(`document.querySelectorAll('#wh-delivery-rows .sy-status-chip[data-status="processed"]').length === 3`, 'all delivered', 15000);
  await shotBoth(browser, '04-detail', '#wh-panel');

  // ---- edit ----
  log('edit');
  await clickIn(`#wh-rows tr[data-webhook-id="${W}"]`, 'Edit');
  const pre = 'wh-e-' + W.slice(-8) + '-';
  await waitFor(`!!document.getElementById('${pre}url')`, 'the edit form');
  check(await evaluate(`document.querySelector('#wh-edit-${W} input[value="api_key.*"]').checked`), 'the form holds the events');
  await fill('#' + pre + 'rate', '0');
  await evaluate(`document.querySelector('#wh-edit-${W} button[type="submit"]').click()`);
  await waitFor(`!document.getElementById('${pre}rate-error').hidden`, 'the rate limit error');
  log('  rate: ' + await text('#' + pre + 'rate-error'));
  check(await activeId() === pre + 'rate', 'the server\'s rate error next to the rate limit, focused');
  await fill('#' + pre + 'rate', '30');
  await evaluate(`document.querySelector('#wh-edit-${W} input[value="webhook.*"]').click()`);
  await evaluate(`document.querySelector('#wh-edit-${W} button[type="submit"]').click()`);
  await waitFor(`document.querySelector('#wh-rows tr[data-webhook-id="${W}"]').children[3].textContent === '30/min'`, 'saved');
  check((await cells(`#wh-rows tr[data-webhook-id="${W}"]`))[1] === 'api_key.* webhook.*', 'events saved');

  // ---- disabled by the server ----
  log('410 Gone: disabled by the server, enable again');
  answer = 410;
  await pageGql(browser, 'mutation { createApiKey(input: { name: "gone", scopes: [READ] }) { apiKey { id } } }');
  await waitFor(`!!document.querySelector('#wh-detail-facts .sy-wh-disabled')`, 'the disabled reason', 15000);
  log('  ' + await text('#wh-detail-facts .sy-wh-disabled p'));
  check((await text('#wh-detail-facts .sy-wh-disabled p')).startsWith('The server disabled this webhook'), 'why the server disabled it');
  check((await cells(`#wh-rows tr[data-webhook-id="${W}"]`))[2].startsWith('disabled by the server'), 'the row says disabled by the server');
  check(await evaluate('document.getElementById("wh-test").disabled'), 'no test event to a disabled webhook');
  await shot('05-disabled', '#wh-detail');
  answer = 200;
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('#wh-detail-facts button'), function (b) { return b.textContent === 'Enable again'; }).click()`);
  await waitFor(`!document.querySelector('#wh-detail-facts .sy-wh-disabled') && document.querySelector('#wh-rows tr[data-webhook-id="${W}"]').children[2].textContent.indexOf('enabled') === 0`, 'enabled again');

  // ---- rotate ----
  log('rotate');
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('#wh-detail-facts button'), function (b) { return b.textContent === 'Rotate signing secret'; }).click()`);
  await waitFor('!!document.querySelector("#wh-detail-facts .sy-confirm")', 'the rotate confirm step');
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('#wh-detail-facts button'), function (b) { return b.textContent === 'Rotate now'; }).click()`);
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the new secret');
  const rotated = await dialogValue();
  check(/^whsec_/.test(rotated) && rotated !== secret, 'a new signing secret shown once');
  await closeDialog();
  await waitFor(`document.getElementById('wh-detail-facts').textContent.indexOf('Signed with the previous secret too') >= 0`, 'the grace period shown');

  // ---- delete ----
  log('delete');
  await clickIn(`#wh-rows tr[data-webhook-id="${W}"]`, 'Delete');
  await waitFor(`!!document.querySelector('#wh-rows tr[data-webhook-id="${W}"] .sy-confirm')`, 'the delete confirm step');
  await key('Escape', 'Escape', 27);
  check(!(await evaluate(`!!document.querySelector('#wh-rows .sy-confirm')`)), 'Escape keeps it');
  await clickIn(`#wh-rows tr[data-webhook-id="${W}"]`, 'Delete');
  await clickIn(`#wh-rows tr[data-webhook-id="${W}"]`, 'Delete webhook');
  await waitFor(`!document.querySelector('#wh-rows tr[data-webhook-id="${W}"]') && document.getElementById('wh-detail').hidden`, 'gone, with its detail');
  await checkButtonNames(browser);

  // ---- a collaborator ----
  log('collaborator');
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#/webhooks`);
  await waitFor('!document.getElementById("wh-panel").hidden && !document.getElementById("wh-owners-only").hidden', 'the collaborator\'s view');
  check(await evaluate('Array.prototype.filter.call(document.querySelectorAll("#wh-panel button, #wh-panel input"), function (b) { return b.getClientRects().length; }).length') === 0,
    'no webhook controls for a collaborator');
  await shotBoth(browser, '06-collaborator', '#wh-panel');
}, () => { server.kill('SIGTERM'); rx.close(); }, 'no JS exceptions, no console errors, no failed requests, every check passed');
