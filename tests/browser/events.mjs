// Drives the console's Events area (`/dashboard#/events`) in headless
// Chromium over the DevTools protocol (Node 20 with --experimental-websocket,
// no npm packages). It starts a fresh Switchyard in a fresh directory.
//
//   cargo build && node --experimental-websocket tests/browser/events.mjs \
//     target/debug/switchyard target/browser-shots [port]
//
// The walk: the workspace's events, newest first; an event caused
// elsewhere appears on top live over the `events` subscription (no events
// query); the type filter (a family pattern from the catalog) keeps only
// matching events, live ones included; an event's payload; older events a
// page at a time; screenshots at 1280 and 390 px; a collaborator does not
// see events about what only owners manage. Exits 1 on any failed check,
// JS exception, console error, failed request, HTTP error answer or request
// to another origin.
//
// SY_ASSETS=playground serves the pages' files from that directory instead
// of the binary. The driver: ./lib.mjs.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { log, check, q, walk, checkButtonNames, startServer, startChrome, setupSignIn, signInCollaborator,
  sameOriginOnly, checkLabels, shotBoth, pageGql } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || 'target/browser-shots';
const PORT = Number(process.argv[4] || 18550);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9375);
mkdirSync(OUT, { recursive: true });

const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({ bin: BIN, port: PORT, prefix: 'sy-events-' });
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/events-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'events-', network: true, fillChange: false });
const { evaluate, waitFor, navigate, reload, click, text, activeId, clickIn, cells, shot } = browser;
sameOriginOnly(browser, BASE);

const ready = '!document.getElementById("ev-panel").hidden && document.getElementById("ev-summary").textContent.indexOf("Loading") === -1';
const types = () => evaluate('Array.prototype.map.call(document.querySelectorAll("#ev-rows tr[data-event-id]"), function (r) { return r.dataset.type; })');
const count = 'document.querySelectorAll("#ev-rows tr[data-event-id]").length';
const COUNTER = `(function(){ window.__eq = 0; var f = window.fetch; window.fetch = function (u, o) {
  if (o && typeof o.body === 'string' && o.body.indexOf('events(') >= 0) window.__eq++; return f.apply(this, arguments); }; return true })()`;
const pick = (value) => evaluate(`(function(){ var s = document.getElementById('ev-type'); s.value = ${q(value)}; s.dispatchEvent(new Event('change')); return s.value })()`);
const newKey = (name) => pageGql(browser, 'mutation($n: String!) { createApiKey(input: { name: $n, scopes: [READ] }) { apiKey { id } } }', { n: name });

await walk(browser, async () => {
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');
  await navigate(`${BASE}/dashboard#/events`);
  await waitFor(ready, 'the Events area');
  await newKey('first');
  await reload();
  await waitFor(ready + ` && ${count} > 0`, 'the Events area');
  await waitFor('document.getElementById("ev-status").dataset.state === "live"', 'the live pill');
  await checkLabels(browser, '#ev-panel');
  const first = await types();
  log('  types: ' + JSON.stringify(first));
  check(first[0] === 'api_key.created', 'newest first');
  check(await evaluate('document.querySelectorAll("#ev-type option").length') > 20, 'the filter offers the catalog\'s types and families');

  // ---- live ----
  log('live');
  await evaluate(COUNTER);
  const before = await evaluate(count);
  await pageGql(browser, 'mutation { createWebhook(input: { url: "http://127.0.0.1:9/x", eventTypes: ["user.*"] }) { webhook { id } } }');
  await waitFor(`${count} === ${before + 1}`, 'the webhook.created event, live');
  check((await types())[0] === 'webhook.created', 'the live event is on top');
  const row = await cells('#ev-rows tr[data-event-id]');
  log('  row: ' + JSON.stringify(row));
  check(row[1] === 'webhook.created' && row[2].startsWith('you') && /^wh_/.test(row[3]), 'type, who (you) and subject shown');
  check(await evaluate('window.__eq') === 0, 'it came over the subscription (no events query)');

  // ---- payload ----
  log('payload');
  const E = await evaluate('document.querySelector("#ev-rows tr[data-event-id]").dataset.eventId');
  await clickIn(`#ev-rows tr[data-event-id="${E}"]`, 'Payload');
  await waitFor(`!document.getElementById('ev-payload-${E}').hidden`, 'the payload');
  const payload = JSON.parse(await text(`#ev-payload-${E} pre`));
  check(payload.type === 'webhook.created' && payload.data && /^wh_/.test(payload.data.id) && payload.data.events[0] === 'user.*', 'the payload holds the event\'s data');
  check(await evaluate(`document.querySelector('#ev-rows tr[data-event-id="${E}"] button').getAttribute('aria-expanded')`) === 'true', 'aria-expanded');
  await shotBoth(browser, '01-events', '#ev-panel');

  // ---- filter ----
  log('filter');
  await pick('api_key.*');
  await waitFor(ready + ` && ${count} > 0`, 'the filtered list');
  check((await types()).every((t) => t.startsWith('api_key.')), 'only api_key events: ' + JSON.stringify(await types()));
  const n = await evaluate(count);
  await pageGql(browser, 'mutation { createWebhook(input: { url: "http://127.0.0.1:9/y", eventTypes: ["user.*"] }) { webhook { id } } }');
  await newKey('second');
  await waitFor(`${count} === ${n + 1}`, 'the live api_key event');
  await new Promise((r) => setTimeout(r, 500));
  check((await types()).every((t) => t.startsWith('api_key.')) && await evaluate(count) === n + 1, 'a live event of another type is left out');
  await shot('02-filtered', '#ev-panel');

  // ---- older events ----
  log('older');
  for (let i = 0; i < 55; i++) await newKey('bulk ' + i);
  await pick('');
  await reload();
  await waitFor(ready + ` && ${count} === 50`, 'the newest 50');
  check(await evaluate('!document.getElementById("ev-more").hidden'), '"Load older events" offered');
  await click('#ev-more');
  await waitFor(`${count} > 50`, 'older events added');
  log('  now ' + await evaluate(count) + ' events');
  const ids = await evaluate('Array.prototype.map.call(document.querySelectorAll("#ev-rows tr[data-event-id]"), function (r) { return r.dataset.eventId; })');
  check(ids.every((id, i) => i === 0 || ids[i - 1] > id), 'still newest first, no duplicates');
  await checkButtonNames(browser);

  // ---- a collaborator ----
  log('collaborator');
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#/events`);
  await waitFor(ready, 'the collaborator\'s view');
  await waitFor('document.getElementById("ev-status").dataset.state === "live"', 'live for the collaborator');
  const seen = await types();
  log('  collaborator sees: ' + JSON.stringify([...new Set(seen)]));
  check(!seen.some((t) => t.startsWith('api_key.') || t.startsWith('webhook.')), 'no owner-only events for a collaborator');
  await shotBoth(browser, '03-collaborator', '#ev-panel');
  check(await activeId() !== undefined, 'page alive');
}, () => { server.kill('SIGTERM'); }, 'no JS exceptions, no console errors, no failed requests, every check passed');
