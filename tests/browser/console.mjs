// Drives the console's shell (/dashboard) in headless Chromium over the
// DevTools protocol (no npm packages: Node 20 with --experimental-websocket).
//
//   cargo build && node --experimental-websocket tests/browser/console.mjs \
//     target/debug/switchyard target/browser-shots [port]
//
// It starts a receiver (node:http on 127.0.0.1: webhook deliveries, every
// third answered 500, and a tiny REST API for a custom_rest connection) and
// a fresh Switchyard. The walk: sign in through the setup link; make data
// through the API (a webhook to the receiver with test events and
// api_key.created events, API-key and OAuth-app requests, calls through a
// connection, records posted to a data endpoint); measure the first load of
// the console (bytes transferred, DOMContentLoaded and load); the Overview's
// charts render with data points; every area of the navigation shows its
// sections and only those (screenshot each: console-area-ID.png); the
// workspace switcher appears for a user of two workspaces and switches; the
// live indicator says when the server is gone and goes back to live when it
// returns (the areas' feeds with it); the console holds one WebSocket, the
// shell's, whatever areas were visited; a delivery made while the Webhooks
// area was hidden shows once it is back; at 390 px the navigation is a
// menu; a collaborator sees no owner controls. On every page: no page error, console error, failed request or
// request to another origin. Exits 1 on any problem.
//
// SY_ASSETS=playground serves /dashboard and /playground/* from that
// directory instead of the binary (then the size check is skipped: those
// answers are not compressed). The driver: ./lib.mjs.
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ASSETS, problems, log, check, sleep, q, walk, checkButtonNames, startServer, spawnServer, startChrome,
  setupSignIn, signInCollaborator } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || 'target/browser-shots';
const PORT = Number(process.argv[4] || 18530);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9372);
const ARGS = ['--usage-flush-seconds', '1'];
mkdirSync(OUT, { recursive: true });

// Every area the contract names, in the navigation's order.
const AREAS = ['overview', 'events', 'queue', 'api-keys', 'webhooks', 'data-endpoints', 'oauth-apps', 'connections',
  'actions', 'plugins', 'integrations', 'members', 'playground', 'sandbox'];

// ---- the receiver: webhooks (every third delivery fails) and a REST API ----
const API_KEY = 'key-' + Math.random().toString(36).slice(2);
let hookHits = 0;
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.url.startsWith('/hook')) {
      hookHits++;
      res.statusCode = hookHits % 3 === 0 ? 500 : 200;
      return res.end(hookHits % 3 === 0 ? 'no' : 'ok');
    }
    if (req.url.startsWith('/api')) {
      res.setHeader('Content-Type', 'application/json');
      if (req.headers.authorization !== 'Bearer ' + API_KEY) { res.statusCode = 401; return res.end('{"error":"bad key"}'); }
      return res.end(JSON.stringify({ ok: true, path: req.url }));
    }
    res.statusCode = 404;
    res.end();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const RX = `http://127.0.0.1:${receiver.address().port}`;

// ---- a fresh Switchyard ----
let { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({
  bin: BIN, port: PORT, prefix: 'sy-console-', args: ARGS, cleanup: () => receiver.close() });

// ---- Chromium, watching every request ----
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/console-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'console-', network: true });
const { send, listeners, evaluate, waitFor, navigate, click, clickIn, text, visible, shot } = browser;
const gql = (query, variables) => evaluate(`window.Switchyard.gql(${q(query)}, ${q(variables || {})})`);
const origins = new Set();
const sizes = new Map();     // requestId → bytes on the wire, while measuring
let measuring = false;
listeners.push((m) => {
  if (m.method === 'Network.requestWillBeSent') {
    const u = new URL(m.params.request.url);
    if (u.protocol !== 'data:' && u.host !== `127.0.0.1:${PORT}`) origins.add(u.origin);
  }
  if (m.method === 'Network.webSocketCreated') {
    const u = new URL(m.params.url);
    if (u.host !== `127.0.0.1:${PORT}`) origins.add(u.origin);
  }
  if (measuring && m.method === 'Network.loadingFinished') sizes.set(m.params.requestId, m.params.encodedDataLength);
});

const areaShown = (id) => `document.getElementById('sy-main').dataset.area === ${q(id)}`;
// The sections of the current area that are on screen, and of the others.
const SHOWN = `(function () {
  var on = [], off = [];
  Array.prototype.forEach.call(document.querySelectorAll('#sy-main > section[data-area]'), function (s) {
    (s.getClientRects().length ? on : off).push(s.getAttribute('data-area'));
  });
  return { on: on, off: off }; })()`;
const points = (id) => evaluate(`Number(document.getElementById(${q(id)}).dataset.points || 0)`);

// Each page's WebSockets, counted as they are made: evaluated in every new
// document before its own scripts (graphql-ws takes the global WebSocket
// when a client is created).
const COUNT_SOCKETS = `(function () {
  var Native = window.WebSocket;
  if (!Native) return;
  var made = window.__sySockets = [];
  function Counted(url, protocols) {
    var ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    made.push(ws);
    return ws;
  }
  Counted.prototype = Native.prototype;
  ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'].forEach(function (k) { Counted[k] = Native[k]; });
  window.WebSocket = Counted;
})();`;
// { made, open } of the page's WebSockets so far.
const SOCKETS = `(function () { var w = window.__sySockets || [];
  return { made: w.length, open: w.filter(function (s) { return s.readyState <= 1; }).length }; })()`;
const deliveryRows = () => evaluate('document.querySelectorAll("#wh-delivery-rows tr[data-delivery-id]").length');

async function goTo(area) {
  await click(`a[data-area-link="${area}"]`);
  await waitFor(areaShown(area), 'area ' + area);
  await sleep(600);
}

await walk(browser, async () => {
  await send('Page.addScriptToEvaluateOnNewDocument', { source: COUNT_SOCKETS });

  // ---- 1. the owner signs in through the setup link ----
  await setupSignIn(browser, SETUP_LINK, 'a long enough password');
  await navigate(`${BASE}/dashboard`);
  await waitFor('!!window.Switchyard && !!window.Switchyard.currentArea', 'the console');
  check(await evaluate('location.hash') === '#/overview', 'the default area is #/overview');

  // ---- 2. data for the charts, through the API ----
  const hook = await gql('mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } userErrors { message } } }',
    { i: { url: `${RX}/hook`, eventTypes: ['api_key.*'], retryPolicy: { kind: 'CUSTOM', delaysSeconds: [] } } });
  const hookId = hook.createWebhook.webhook.id;
  for (let i = 0; i < 3; i++) {
    await gql('mutation($i: TestWebhookInput!) { testWebhook(input: $i) { userErrors { message } } }', { i: { id: hookId } });
  }
  const key = await gql('mutation { createApiKey(input: { name: "charted", scopes: [READ] }) { secret apiKey { id } userErrors { message } } }');
  const secret = key.createApiKey.secret;
  for (let i = 0; i < 4; i++) {
    await fetch(`${BASE}/graphql`, { method: 'POST', headers: { authorization: 'Bearer ' + secret, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ viewer { role } }' }) });
  }
  await fetch(`${BASE}/graphql`, { method: 'POST', headers: { authorization: 'Bearer ' + secret, 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { createApiKey(input: { name: "no", scopes: [READ] }) { secret } }' }) });
  const app = await gql('mutation($i: CreateOAuthAppInput!) { createOAuthApp(input: $i) { oauthApp { id clientId } secret userErrors { message } } }',
    { i: { name: 'Charted app', redirectUris: ['https://app.example/cb'], scopes: ['READ'], confidential: true } });
  const basic = Buffer.from(app.createOAuthApp.oauthApp.clientId + ':' + app.createOAuthApp.secret).toString('base64');
  const token = await (await fetch(`${BASE}/oauth/token`, { method: 'POST',
    headers: { authorization: 'Basic ' + basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=read' })).json();
  check(!!token.access_token, 'a client-credentials token for the OAuth app');
  for (let i = 0; i < 3; i++) {
    await fetch(`${BASE}/graphql`, { method: 'POST', headers: { authorization: 'Bearer ' + token.access_token, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ viewer { role } }' }) });
  }
  const conn = await gql('mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }',
    { i: { provider: 'custom_rest', apiKey: API_KEY, baseUrl: `${RX}/api` } });
  check(!!conn.createConnection.connection, 'a custom_rest connection: ' + JSON.stringify(conn.createConnection.userErrors));
  for (let i = 0; i < 3; i++) {
    await gql('mutation($i: CallConnectionInput!) { callConnection(input: $i) { userErrors { message } } }',
      { i: { connectionId: conn.createConnection.connection.id, method: 'GET', path: '/ping' } });
  }
  await gql('mutation { createDataEndpoint(input: { slug: "orders", name: "Orders", monthlyQuota: 1000 }) { dataEndpoint { id } userErrors { message } } }');
  const dk = await gql('mutation { createDataKey(input: { name: "charts" }) { secret userErrors { message } } }');
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${BASE}/api/v1/data/orders`, { method: 'POST',
      headers: { authorization: 'Bearer ' + dk.createDataKey.secret, 'content-type': 'application/json' },
      body: JSON.stringify({ order_id: 'A-' + i }) });
    check(r.status === 202, 'a record posted to the data endpoint (' + r.status + ')');
  }
  for (let i = 0; i < 100 && hookHits < 4; i++) await sleep(100);
  check(hookHits >= 4, 'the receiver got the deliveries (' + hookHits + ')');
  await sleep(1500);   // the usage counters are written every second

  // ---- 3. the first load of the console: bytes and time ----
  await send('Network.setCacheDisabled', { cacheDisabled: true });
  sizes.clear();
  measuring = true;
  // From another page: the same URL again would only move to its anchor.
  await navigate('about:blank');
  sizes.clear();
  await navigate(`${BASE}/dashboard#/overview`);
  await sleep(1500);
  measuring = false;
  await send('Network.setCacheDisabled', { cacheDisabled: false });
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const timing = await evaluate(`(function () { var n = performance.getEntriesByType('navigation')[0];
    return { dcl: Math.round(n.domContentLoadedEventEnd), load: Math.round(n.loadEventEnd), interactive: Math.round(n.domInteractive) }; })()`);
  log(`  first load: ${sizes.size} requests, ${(total / 1024).toFixed(1)} KB transferred; ` +
    `DOM interactive ${timing.interactive} ms, DOMContentLoaded ${timing.dcl} ms, load ${timing.load} ms`);
  if (ASSETS) log('  (SY_ASSETS: served uncompressed from disk, the size is not checked)');
  else check(total <= 300 * 1024, `first load ≤ 300 KB compressed (${(total / 1024).toFixed(1)} KB)`);
  check(timing.dcl > 0 && timing.dcl <= 1000, `interactive within 1 s (DOMContentLoaded at ${timing.dcl} ms)`);

  // ---- 4. the Overview: charts with data points ----
  // Every chart has values other than zero but the queue's depth, which is
  // zero when the queue is idle: it must have samples.
  for (const id of ['chart-deliveries', 'chart-calls', 'chart-keys', 'chart-apps', 'chart-endpoints', 'chart-queue-rate', 'chart-queue-depth']) {
    const field = id === 'chart-queue-depth' ? 'points' : 'nonzero';
    await waitFor(`Number((document.getElementById(${q(id)}).dataset.${field}) || 0) > 0`, id + ' drawn with data points', 20000);
    log(`  ${id}: ${await points(id)} points — ${await text('#' + id + '-summary')}`);
  }
  check(/\d+ attempts in the last hour, \d+ failed/.test(await text('#chart-deliveries-summary')), 'the deliveries chart sums up attempts and failures');
  check(/of 1,?000 requests used this month/.test(await text('#chart-endpoints-summary')), 'the endpoint chart says its usage against the quota');
  check(await evaluate(`document.querySelectorAll('#chart-deliveries canvas').length`) === 1, 'the deliveries chart is a canvas');
  check(await text('#sy-live') === 'live', 'the live indicator says live');
  await shot('area-overview');
  await shot('overview-charts', '#overview-panel');
  await checkButtonNames(browser);
  const unnamed = await evaluate(`Array.prototype.filter.call(document.querySelectorAll('select, input, textarea'), function (c) {
    return c.getClientRects().length && !(c.labels && c.labels.length) && !c.getAttribute('aria-label'); }).map(function (c) { return c.id; })`);
  check(unnamed.length === 0, 'every control on the Overview has a label (' + unnamed.join(', ') + ')');

  // ---- 5. every area ----
  const listed = await evaluate(`Array.prototype.filter.call(document.querySelectorAll('a[data-area-link]'), function (a) {
    return a.getClientRects().length; }).map(function (a) { return a.getAttribute('data-area-link'); })`);
  const missing = AREAS.filter((a) => !listed.includes(a));
  log('  areas in the navigation: ' + listed.join(', ') + (missing.length ? ' (not in this build: ' + missing.join(', ') + ')' : ''));
  for (const a of ['overview', 'queue', 'connections', 'actions', 'oauth-apps', 'playground', 'sandbox']) {
    check(listed.includes(a), 'the navigation lists ' + a);
  }
  for (const area of listed) {
    await goTo(area);
    const s = await evaluate(SHOWN);
    check(s.on.length > 0 && s.on.every((x) => x === area), `#/${area} shows its sections only (${s.on.join(', ')})`);
    check(await evaluate(`document.querySelector('a[data-area-link="${area}"]').getAttribute('aria-current')`) === 'page',
      `#/${area} is the current page in the navigation`);
    check(await evaluate('location.hash') === '#/' + area, `the URL says #/${area}`);
    await shot('area-' + area);
  }
  // Every area's live feed rides on the shell's one WebSocket.
  const sockets = await evaluate(SOCKETS);
  check(sockets.made === 1 && sockets.open === 1,
    `one WebSocket for the console after visiting every area (${sockets.made} made, ${sockets.open} open)`);
  // Back and forward go through the areas; an old anchor shows its area.
  await evaluate('history.back()');
  await waitFor(areaShown(listed[listed.length - 2]), 'history back');
  await navigate(`${BASE}/dashboard#connections-panel`);
  await waitFor(areaShown('connections'), 'an old-style anchor shows its area');
  await navigate(`${BASE}/dashboard#/no-such-area`);
  await waitFor(areaShown('overview') + ' && location.hash === "#/overview"', 'an unknown area falls back to the overview');

  // The keyboard: the first Tab reaches "Skip to content", which keeps the
  // area; <main> (focused after a move) is named by the area.
  await navigate(`${BASE}/dashboard#/sandbox`);
  await browser.reload();
  await waitFor(areaShown('sandbox'), 'the reloaded console');
  await browser.key('Tab', 'Tab', 9);
  check(await evaluate('document.activeElement.textContent.trim()') === 'Skip to content', 'the first Tab reaches "Skip to content"');
  await browser.key('Enter', 'Enter', 13);
  check(await evaluate('document.activeElement.id') === 'sy-main', 'Enter on it moves the focus to the area');
  check(await evaluate(areaShown('sandbox')), 'the skip link keeps the area');
  await goTo('connections');
  check(await evaluate(`document.getElementById('sy-dash-title').textContent`) === 'Connections', 'the main region is named by the area');
  check(await evaluate('document.title') === 'Connections — Switchyard', 'the window title names the area');

  // ---- 5b. a hidden area's feed rests, and catches up when shown again ----
  await goTo('webhooks');
  await waitFor(`!!document.querySelector('#wh-rows tr[data-webhook-id="${hookId}"]')`, 'the webhook in the Webhooks area');
  await clickIn(`#wh-rows tr[data-webhook-id="${hookId}"]`, 'Deliveries');
  await waitFor('!document.getElementById("wh-detail").hidden && document.getElementById("wh-deliveries-summary").textContent.indexOf("Loading") === -1 && ' +
    'document.querySelectorAll("#wh-delivery-rows tr[data-delivery-id]").length > 0', 'its deliveries');
  await waitFor('document.getElementById("wh-status").dataset.state === "live"', 'the Webhooks feed live');
  const shownBefore = await deliveryRows();
  await goTo('events');
  const hitsBefore = hookHits;
  await gql('mutation { createApiKey(input: { name: "made while hidden", scopes: [READ] }) { apiKey { id } } }');
  for (let i = 0; i < 100 && hookHits === hitsBefore; i++) await sleep(100);
  check(hookHits > hitsBefore, 'the receiver got a delivery made while the Webhooks area was hidden');
  await sleep(1500);   // a running feed would have shown it by now
  check(await deliveryRows() === shownBefore, 'the hidden area\'s feed rested (no new row while hidden)');
  await goTo('webhooks');
  await waitFor(`document.querySelectorAll("#wh-delivery-rows tr[data-delivery-id]").length === ${shownBefore + 1}`,
    'the delivery made while hidden, shown once the area is back', 10000);
  check((await evaluate('document.querySelector("#wh-delivery-rows tr[data-delivery-id]").children[1].textContent')) === 'api_key.created',
    'the delivery made while hidden is on top');
  await waitFor('document.getElementById("wh-status").dataset.state === "live"', 'the Webhooks feed live again');
  await shot('webhooks-caught-up');
  const socketsNow = await evaluate(SOCKETS);
  check(socketsNow.made === 1 && socketsNow.open === 1,
    `still one WebSocket after the areas came and went (${socketsNow.made} made, ${socketsNow.open} open)`);
  await goTo('connections');

  // ---- 6. the workspace switcher ----
  check(!(await visible('#sy-ws')), 'no switcher while the user has one workspace');
  // Another owner's workspace invites our owner, who accepts.
  const admin = (args) => execFileSync(BIN, ['admin', ...args, '--listen', `127.0.0.1:${PORT}`], { cwd: SERVER_DIR, encoding: 'utf8' });
  admin(['create-user', '--email', 'second@example.com', '--new-workspace', 'Second hub']);
  const secondKey = admin(['create-api-key', '--email', 'second@example.com']).trim();
  const invited = await (await fetch(`${BASE}/graphql`, { method: 'POST',
    headers: { authorization: 'Bearer ' + secondKey, 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation { inviteMember(input: { email: "owner@localhost", role: COLLABORATOR }) { acceptUrl userErrors { message } } }' }) })).json();
  const inviteToken = new URL(invited.data.inviteMember.acceptUrl, BASE).searchParams.get('token');
  const accepted = await gql('mutation($i: AcceptInvitationInput!) { acceptInvitation(input: $i) { userErrors { message } } }', { i: { token: inviteToken } });
  check(accepted.acceptInvitation.userErrors.length === 0, 'the owner joined a second workspace');
  await browser.reload();
  await waitFor('!document.getElementById("sy-ws").hidden', 'the workspace switcher');
  const options = await evaluate(`Array.prototype.map.call(document.querySelectorAll('#sy-ws-select option'), function (o) { return o.textContent; })`);
  check(options.length === 2 && options.some((o) => o.startsWith('Second hub')), 'the switcher lists both workspaces: ' + options.join(' | '));
  await shot('switcher', '.sy-console-bar');
  // Picks the workspace whose name starts with `name`; the page reloads in it.
  const switchTo = async (name) => {
    await evaluate(`(function () { var s = document.getElementById('sy-ws-select');
      var o = Array.prototype.find.call(s.options, function (o) { return o.textContent.indexOf(${q(name)}) === 0; });
      if (s.value === o.value) return false;
      s.value = o.value; s.dispatchEvent(new Event('change', { bubbles: true })); return true; })()`);
    await sleep(500);
    await waitFor(`document.readyState === "complete" && document.getElementById("sy-who").textContent.indexOf(${q(' · ' + name)}) > 0`,
      'the console in ' + name);
  };
  await goTo('connections');
  await switchTo('Second hub');
  check((await text('#sy-who')).endsWith('Second hub'), 'switched to the second workspace: ' + await text('#sy-who'));
  check(await evaluate('location.hash') === '#/connections', 'the switch keeps the area');
  check(await evaluate(`document.getElementById('sy-ws-select').selectedOptions[0].textContent`) === 'Second hub (collaborator)',
    'the switcher shows the role there');
  await switchTo('My workspace');
  check((await text('#sy-who')).endsWith('My workspace'), 'and back: ' + await text('#sy-who'));
  await goTo('overview');

  // ---- 7. the live indicator: the server goes away and comes back ----
  await waitFor(`document.getElementById('sy-live').textContent === 'live'`, 'live before the outage');
  const before = problems.length;
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await waitFor(`/offline|reconnecting/.test(document.getElementById('sy-live').textContent)`, 'the indicator says the feed is down', 15000);
  log('  while the server is down: ' + await text('#sy-live'));
  // The Overview's delivery feed rides on the same socket: its pill follows.
  await waitFor(`document.getElementById('deliveries-status').textContent === 'reconnecting'`, 'the delivery feed says reconnecting', 15000);
  await shot('live-down', '.sy-console-bar');
  server = spawnServer(BIN, SERVER_DIR, PORT, ARGS);
  await waitFor(`document.getElementById('sy-live').textContent === 'live'`, 'the indicator is live again', 40000);
  await waitFor(`document.getElementById('deliveries-status').textContent === 'live'`, 'the delivery feed is live again', 10000);
  // The Overview's live queue chart goes on (the server ended its stream when it shut down).
  const samplesAgain = await points('chart-queue-depth');
  await waitFor(`Number(document.getElementById('chart-queue-depth').dataset.points || 0) > ${samplesAgain}`,
    'the live queue chart has new samples after the outage', 10000);
  const socketsAfter = await evaluate(SOCKETS);
  check(socketsAfter.open === 1, `one WebSocket open after the outage (${socketsAfter.made} made, ${socketsAfter.open} open)`);
  await shot('live-again', '.sy-console-bar');
  // What failed while the server was away is expected; nothing else is.
  const during = problems.splice(before);
  const unexpected = during.filter((p) => !/ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|WebSocket|net::/.test(p));
  check(unexpected.length === 0, 'nothing else failed during the outage: ' + unexpected.join(' | '));
  await sleep(1000);

  // ---- 8. a phone-sized screen: the navigation is a menu ----
  await send('Emulation.setDeviceMetricsOverride', { width: 390, height: 844, deviceScaleFactor: 1, mobile: true });
  await sleep(300);
  check(await visible('#sy-menu') && !(await visible('#sy-sidenav')), 'at 390 px: a Menu button, the navigation folded away');
  await shot('narrow-overview');
  await click('#sy-menu');
  await waitFor(`document.getElementById('sy-menu').getAttribute('aria-expanded') === 'true'`, 'the menu opens');
  check(await visible('#sy-sidenav'), 'the menu shows the navigation');
  await shot('narrow-menu');
  await click('a[data-area-link="connections"]');
  await waitFor(areaShown('connections'), 'an area picked from the menu');
  check(!(await visible('#sy-sidenav')) && await evaluate(`document.getElementById('sy-menu').getAttribute('aria-expanded')`) === 'false',
    'the menu closes once an area is picked');
  const wide = await evaluate('document.documentElement.scrollWidth');
  check(wide <= 392, 'nothing sticks out sideways at 390 px (' + wide + ' px)');
  await shot('narrow-connections');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });

  // ---- 9. a collaborator sees no owner controls ----
  await navigate(`${BASE}/dashboard`);
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard`);
  await waitFor('document.body.dataset.role === "collaborator"', 'the collaborator\'s console');
  await waitFor(`document.getElementById('chart-endpoints-summary').textContent.indexOf('Loading') === -1`, 'the collaborator\'s overview');
  const OWNER_ONLY = ['#chart-deliveries-card', '#chart-queue-depth-card', '#chart-keys-card', '#chart-apps-card', '#deliveries-panel',
    'a[data-area-link="queue"]'];
  for (const sel of OWNER_ONLY) check(!(await visible(sel)), 'a collaborator does not see ' + sel);
  check(await visible('#chart-endpoints-card') && await visible('#chart-calls-card'), 'a collaborator sees the charts of what they may read');
  await shot('collaborator-overview');
  const seen = await evaluate(`Array.prototype.filter.call(document.querySelectorAll('a[data-area-link]'), function (a) {
    return a.getClientRects().length; }).map(function (a) { return a.getAttribute('data-area-link'); })`);
  for (const area of seen) {
    await goTo(area);
    await sleep(400);
    await shot('collaborator-' + area);
  }
  await goTo('sandbox');
  check(!(await visible('#sandbox-console-link')), 'no data console link for a collaborator');
  await goTo('oauth-apps');
  check(!(await visible('#oauth-panel')) && await visible('#authorized-panel'), 'OAuth apps: only "Apps you authorized" for a collaborator');
  await goTo('connections');
  check(!(await visible('#catalog-section')) && !(await visible('#psettings-section')), 'Connections: no connect or settings for a collaborator');

  check(origins.size === 0, 'no request to another origin (' + [...origins].join(', ') + ')');
}, () => { server.kill(); receiver.close(); }, 'console: all checks passed');

