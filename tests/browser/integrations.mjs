// Drives the console's Integrations area in headless Chromium over the
// DevTools protocol (no npm packages: Node 20 with --experimental-websocket).
// It starts everything itself: a Slack-compatible incoming-webhook receiver
// (node:http on 127.0.0.1: records each POST to /services/…, answers "ok")
// and a fresh Switchyard in a fresh directory with --allow-private-targets
// true so the server may call 127.0.0.1.
//
//   cargo build && node --experimental-websocket tests/browser/integrations.mjs \
//     target/debug/switchyard /work/shots/integrations [port]
//
// The walk: the New integration form is generated from the service's
// schema (the webhook URL a password input); a service whose connection
// the workspace lacks says so with a link to #/connections, before and
// after the server refuses; a bad config and a sync interval under 60 s
// get the server's errors next to their fields; a Slack integration to the
// local receiver is created (its URL shown as ***), tested (the receiver
// gets the test message; the row shows the time and HTTP 200), synced (the
// run appears and ends SUCCEEDED live over the subscription, with no runs
// query; the receiver gets the events; last sync and items follow), edited
// (auto-sync every 2 minutes; the secret left empty is kept: a second test
// still reaches the receiver); the filters and the pages (12 integrations,
// 10 a page); delete (confirmed; Escape keeps); a collaborator tests and
// syncs but gets no owner control; an inbound sync whose connection was
// deleted pauses (its row says why) and resumes live when it is connected
// again. At 1280 and 390 px. Exits 1 on any
// failed check, JS exception, console error, failed request, HTTP error
// answer or request to another origin; writes PNG screenshots to the out
// dir (integrations-*.png). Needs /usr/bin/chromium.
//
// SY_ASSETS=playground serves /dashboard and /playground/* from that
// directory instead of the binary (to try page changes without a rebuild).
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { log, check, sleep, q, walk, checkButtonNames, startServer, startChrome, setupSignIn,
  signInCollaborator } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || '/work/shots/integrations';
const PORT = Number(process.argv[4] || 18630);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9381);
mkdirSync(OUT, { recursive: true });

// ---- the Slack-compatible receiver ----
const SECRET_PART = 'S' + Math.random().toString(36).slice(2, 12).toUpperCase();
const posts = [];   // { path, body }
const slack = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.method === 'GET') {
      // The custom REST service a connection is made to, with a listing to sync.
      const listing = req.url.startsWith('/api/contacts');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(listing ? '{"data":[{"id":"1","name":"Ada"},{"id":"2","name":"Grace"}]}' : '{"ok":true}');
      return;
    }
    if (req.method !== 'POST' || !req.url.startsWith('/services/')) { res.writeHead(404); res.end('no'); return; }
    let json = null;
    try { json = JSON.parse(body); } catch { /* kept as null */ }
    posts.push({ path: req.url, body: json });
    // Events sent by a sync are answered slowly, so the run is seen under way.
    const slow = json && typeof json.text === 'string' && !/test message/i.test(json.text);
    setTimeout(() => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('ok'); }, slow ? 700 : 0);
  });
});
await new Promise((r) => slack.listen(0, '127.0.0.1', r));
const HOOK = `http://127.0.0.1:${slack.address().port}/services/T000/B000/${SECRET_PART}`;

const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({
  bin: BIN, port: PORT, prefix: 'sy-integrations-', cleanup: () => slack.close() });

const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/integrations-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'integrations-', network: true });
const { send, evaluate, waitFor, navigate, reload, click, fill, text, visible, activeId, buttonsIn, clickIn, cells, key, shot } = browser;
const gql = (query, variables) => evaluate(`window.Switchyard.gql(${q(query)}, ${q(variables || {})})`);

const foreign = [];
const WS = BASE.replace('http', 'ws');
browser.listeners.push((m) => {
  if (m.method === 'Network.requestWillBeSent' && !m.params.request.url.startsWith(BASE + '/') &&
      !m.params.request.url.startsWith('data:')) foreign.push(m.params.request.url);
  if (m.method === 'Network.webSocketCreated' && !m.params.url.startsWith(WS + '/')) foreign.push(m.params.url);
});

const ready = '!document.getElementById("integrations-panel").hidden && ' +
  'document.getElementById("integrations-summary").textContent.indexOf("Loading") === -1';
const live = 'document.getElementById("integrations-status").dataset.state === "live"';
const row = (id) => `#integrations-rows tr[data-integration-id="${id}"]`;
const firstRowId = () => evaluate('(function(){var r=document.querySelector("#integrations-rows tr[data-integration-id]"); return r ? r.dataset.integrationId : null})()');
const rowCount = () => evaluate('document.querySelectorAll("#integrations-rows tr[data-integration-id]").length');
// Records in the page every status each run row shows (every 20 ms), and counts runs queries.
const RECORDER = `(function(){ window.__seen = {}; setInterval(function () {
  Array.prototype.forEach.call(document.querySelectorAll('#integrations-rows tr[data-run-id]'), function (tr) {
    var l = window.__seen[tr.dataset.runId] = window.__seen[tr.dataset.runId] || [];
    if (l[l.length - 1] !== tr.dataset.status) l.push(tr.dataset.status);
  }); }, 20);
  window.__runQueries = 0; var f = window.fetch;
  window.fetch = function (u, o) { if (o && typeof o.body === 'string' && o.body.indexOf('runs(first') >= 0) window.__runQueries++; return f.apply(this, arguments); };
  return true })()`;
const unlabelled = () => evaluate(`Array.prototype.filter.call(document.querySelectorAll('#integrations-panel input, #integrations-panel select, #integrations-panel textarea'), function (i) {
  return !(i.labels && i.labels.length) && !i.getAttribute('aria-label'); }).map(function (i) { return i.id || i.name; })`);
async function widthShot(width, name, selector) {
  await send('Emulation.setDeviceMetricsOverride', { width, height: 900, deviceScaleFactor: 1, mobile: width < 500 });
  await sleep(300);
  check(await evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'), `no page-wide sideways scroll at ${width} px`);
  await shot(name, selector);
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  await sleep(200);
}

await walk(browser, async () => {
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');
  await navigate(`${BASE}/dashboard#/integrations`);
  await waitFor(ready + ' && !!document.getElementById("int-new-name")', 'the Integrations area');
  check(await waitFor(live, 'the live pill'), 'live over the integrationRuns subscription');
  check((await text('#integrations-summary')).startsWith('No integrations yet'), 'empty list says so');

  // ---- 1. the form follows the service's schema ----
  log('the form');
  const options = await evaluate('Array.prototype.map.call(document.getElementById("int-new-serviceType").options, function (o) { return o.value; })');
  check(options[0] === 'slack' && options[1] === 'webhook' && options.includes('stripe'), 'Slack, webhook, then the connected services: ' + options.slice(0, 4));
  check(await evaluate('document.getElementById("int-new-cfg-webhook_url").type') === 'password', 'the webhook URL (a secret) is a password input');
  check(await evaluate('document.getElementById("int-new-cfg-events").value') === '*', 'the events default from the schema');
  check((await unlabelled()).length === 0, 'every control has a label ' + JSON.stringify(await unlabelled()));
  await shot('01-empty', '#integrations-panel');

  // ---- 2. a service without its connection ----
  log('missing connection');
  await fill('#int-new-serviceType', 'stripe');
  await waitFor('!!document.querySelector("#int-new-form .sy-int-notice a")', 'the connection notice');
  check(await evaluate('document.querySelector("#int-new-form .sy-int-notice a").getAttribute("href")') === '#/connections', 'it links to the Connections area');
  check((await text('#int-new-form .sy-int-notice')).includes('Connect Stripe in the Connections area first'), 'a clear message: ' + await text('#int-new-form .sy-int-notice'));
  check(await evaluate('!!document.getElementById("int-new-cfg-sync-path")'), 'the connected service\'s own fields (sync.path)');
  await fill('#int-new-name', 'Payments');
  await click('#int-new-form button[type="submit"]');
  await waitFor('!document.getElementById("int-new-serviceType-error").hidden', 'the server\'s refusal');
  check((await text('#int-new-serviceType-error')).includes('Connect Stripe first') &&
    await evaluate('!!document.querySelector("#int-new-serviceType-error a[href=\\"#/connections\\"]")'), 'next to the service, with the link: ' + await text('#int-new-serviceType-error'));
  check(await activeId() === 'int-new-serviceType', 'focus on the service');
  await shot('02-needs-connection', '#int-new-section');
  // Connected meanwhile (in the Connections area): back here, what was typed
  // stays and the notice goes.
  await fill('#int-new-serviceType', 'custom_rest');
  await waitFor('document.querySelector("#int-new-form .sy-int-notice").textContent.length > 0', 'the custom REST notice');
  const made = await gql('mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }',
    { i: { provider: 'custom_rest', apiKey: 'ck_test_123', baseUrl: `http://127.0.0.1:${slack.address().port}/api` } });
  check(!!made.createConnection.connection, 'a custom REST connection made ' + JSON.stringify(made.createConnection.userErrors));
  await evaluate(`document.dispatchEvent(new CustomEvent('sy:area', { detail: { area: 'integrations' } }))`);
  await waitFor('document.querySelector("#int-new-form .sy-int-notice").textContent === ""', 'the notice gone once connected');
  check(await evaluate('document.getElementById("int-new-name").value') === 'Payments', 'what was typed stays');
  check((await evaluate('document.getElementById("int-new-serviceType").selectedOptions[0].textContent')).endsWith('(connected)'), 'the service says connected');

  // ---- 3. bad config and interval ----
  log('bad input');
  await fill('#int-new-serviceType', 'slack');
  await waitFor('!!document.getElementById("int-new-cfg-webhook_url")', 'the Slack fields again');
  await fill('#int-new-name', 'Team chat');
  await fill('#int-new-cfg-webhook_url', 'ftp://nowhere');
  await evaluate('document.getElementById("int-new-auto").click()');
  await fill('#int-new-settings-syncIntervalSeconds', '30');
  await click('#int-new-form button[type="submit"]');
  await waitFor('!document.getElementById("int-new-settings-syncIntervalSeconds-error").hidden || !document.getElementById("int-new-cfg-webhook_url-error").hidden', 'the field errors');
  const e1 = await text('#int-new-cfg-webhook_url-error');
  log('  webhook_url: ' + e1 + ' | interval: ' + await text('#int-new-settings-syncIntervalSeconds-error'));
  check(e1.length > 0, 'the server\'s error next to the webhook URL');
  await fill('#int-new-cfg-webhook_url', HOOK);
  await click('#int-new-form button[type="submit"]');
  await waitFor('!document.getElementById("int-new-settings-syncIntervalSeconds-error").hidden', 'the interval error');
  check((await text('#int-new-settings-syncIntervalSeconds-error')).includes('60'), 'the interval must be ≥ 60 s: ' + await text('#int-new-settings-syncIntervalSeconds-error'));
  check(await activeId() === 'int-new-settings-syncIntervalSeconds', 'focus on the interval');
  check(await rowCount() === 0, 'nothing created');
  await shot('03-errors', '#int-new-section');

  // ---- 4. create ----
  log('create');
  await evaluate('document.getElementById("int-new-auto").click()');
  await fill('#int-new-settings-syncIntervalSeconds', '300');
  await fill('#int-new-cfg-channel', '#alerts');
  await fill('#int-new-cfg-username', 'Switchyard');
  await click('#int-new-form button[type="submit"]');
  await waitFor('document.querySelectorAll("#integrations-rows tr[data-integration-id]").length === 1', 'the new integration');
  const I = await firstRowId();
  const r1 = await cells(row(I));
  log('  row: ' + JSON.stringify(r1));
  check(r1[0].startsWith('Team chat') && r1[0].includes('Slack'), 'name and service');
  check(r1[1] === 'active' && r1[2] === 'Never' && r1[3] === 'Never' && r1[4] === '0' && r1[5] === 'Off', 'active, never tested or synced, auto-sync off');
  check(!(await evaluate(`document.body.innerText.indexOf(${q(SECRET_PART)}) >= 0`)), 'the webhook URL appears nowhere on the page');
  check(await evaluate('document.getElementById("int-new-name").value') === '', 'the form is reset');
  check(JSON.stringify(await buttonsIn(row(I))) === '["Test","Sync now","Runs","Edit","Delete"]', 'owner controls');

  // ---- 5. test ----
  log('test');
  await clickIn(row(I), 'Test');
  await waitFor(`(function(){var c=document.querySelector(${q(row(I))}).children[2]; return c.textContent.indexOf('HTTP 200') >= 0})()`, 'the test outcome');
  check(posts.length === 1 && posts[0].body && posts[0].body.channel === '#alerts' && /test message/i.test(posts[0].body.text), 'the receiver got the test message: ' + JSON.stringify(posts[0]));
  check(/^\d\d:\d\d:\d\d · HTTP 200$/.test((await cells(row(I)))[2]), 'last test time and status code: ' + (await cells(row(I)))[2]);

  // ---- 6. sync: the run appears and ends live ----
  log('sync');
  // An event for the sync to send (an API key made through GraphQL).
  await gql('mutation { createApiKey(input: { name: "for the sync", scopes: [READ] }) { secret userErrors { message } } }');
  await sleep(1200);   // a sync sends events once they are 1 s old (SETTLE)
  await clickIn(row(I), 'Runs');
  await waitFor(`(document.querySelector('#integration-detail-${I} .sy-log-meta') || {}).textContent.indexOf('No runs yet') >= 0`, 'the empty run history');
  await evaluate(RECORDER);
  const before = posts.length;
  await clickIn(row(I), 'Sync now');
  await waitFor(`!!document.querySelector('#integration-detail-${I} tr[data-run-id]')`, 'the run row');
  const RUN = await evaluate(`document.querySelector('#integration-detail-${I} tr[data-run-id]').dataset.runId`);
  await waitFor(`document.querySelector('#integration-detail-${I} tr[data-run-id]').dataset.status === 'SUCCEEDED'`, 'the run SUCCEEDED', 20000);
  // The recorder looks every 20 ms: the last status may be newer than its last look.
  await waitFor(`(window.__seen[${q(RUN)}] || []).indexOf('SUCCEEDED') >= 0`, 'the recorder to see SUCCEEDED', 3000);
  const seen = await evaluate(`window.__seen[${q(RUN)}]`);
  log('  statuses seen: ' + JSON.stringify(seen) + ', runs queries: ' + await evaluate('window.__runQueries'));
  check(seen[0] !== 'SUCCEEDED' && seen[seen.length - 1] === 'SUCCEEDED', 'the run went from ' + seen[0] + ' to SUCCEEDED on the page');
  check(await evaluate('window.__runQueries') === 0, 'without a runs query: streamed live');
  const run = await cells(`#integration-detail-${I} tr[data-run-id]`);
  log('  run: ' + JSON.stringify(run));
  const items = Number(run[3]);
  check(run[1] === 'by hand' && run[2] === 'succeeded' && items >= 1 && run[4].startsWith('up to evt_'), 'trigger, status, items and cursor');
  check(posts.length - before === items, 'the receiver got one post per item (' + (posts.length - before) + ')');
  await waitFor(`document.querySelector(${q(row(I))}).children[4].textContent === ${q(String(items))}`, 'items synced on the row');
  check((await cells(row(I)))[3] !== 'Never', 'last sync shown');
  check((await text('#integrations-live')).length > 0, 'read out: ' + await text('#integrations-live'));
  await shot('04-synced', '#integrations-panel');

  // ---- 7. edit: auto-sync; the secret left empty is kept ----
  log('edit');
  await clickIn(row(I), 'Edit');
  await waitFor(`!!document.getElementById('int-edit-${I}-name')`, 'the edit form');
  check(await activeId() === `int-edit-${I}-name`, 'focus on the name');
  check(await evaluate(`document.getElementById('int-edit-${I}-cfg-webhook_url').value`) === '' &&
    (await evaluate(`document.getElementById('int-edit-${I}-cfg-webhook_url').placeholder`)).includes('leave empty'), 'the stored URL is not on the page');
  check(await evaluate(`document.getElementById('int-edit-${I}-cfg-channel').value`) === '#alerts', 'the config filled in');
  await fill(`#int-edit-${I}-name`, 'Team chat (alerts)');
  await evaluate(`document.getElementById('int-edit-${I}-auto').click()`);
  await fill(`#int-edit-${I}-settings-syncIntervalSeconds`, '120');
  await shot('05-edit', row(I) + ' + tr');
  await click(`#integration-detail-${I} button[type="submit"]`);
  await waitFor(`document.querySelector(${q(row(I))}).children[5].textContent === 'Every 2 minutes'`, 'auto-sync every 2 minutes');
  check((await cells(row(I)))[0].startsWith('Team chat (alerts)'), 'renamed');
  check(await activeId() === 'Edit', 'focus back on Edit');
  const n = posts.length;
  await clickIn(row(I), 'Test');
  for (let k = 0; k < 50 && posts.length === n; k++) await sleep(100);
  check(posts.length === n + 1 && posts[n].path.endsWith(SECRET_PART), 'the kept webhook URL still reaches the receiver');

  // ---- 8. filters and pages ----
  log('filters and pages');
  for (let k = 1; k <= 11; k++) {
    await gql('mutation($i: CreateIntegrationInput!) { createIntegration(input: $i) { integration { id } userErrors { message } } }',
      { i: { name: 'Hook ' + k, serviceType: 'webhook', config: { url: `http://127.0.0.1:${slack.address().port}/services/w/${k}` } } });
  }
  await reload();
  await waitFor(ready + ' && document.querySelectorAll("#integrations-rows tr[data-integration-id]").length === 10', 'the first page');
  check((await text('#integrations-summary')).startsWith('12 integrations · 1–10 shown'), 'count and range: ' + await text('#integrations-summary'));
  check(await evaluate('document.getElementById("integrations-newer").disabled && !document.getElementById("integrations-older").disabled'), 'Older enabled, Newer not');
  await click('#integrations-older');
  await waitFor('document.querySelectorAll("#integrations-rows tr[data-integration-id]").length === 2', 'the second page');
  check(await evaluate(`!!document.querySelector(${q(row(I))})`), 'the oldest (the Slack one) on page 2');
  check(await activeId() === 'integrations-summary', 'focus on the summary after paging');
  await click('#integrations-newer');
  await waitFor('document.querySelectorAll("#integrations-rows tr[data-integration-id]").length === 10', 'back to page 1');
  await fill('#integrations-type', 'slack');
  await waitFor('document.querySelectorAll("#integrations-rows tr[data-integration-id]").length === 1', 'only Slack');
  check(await evaluate(`!!document.querySelector(${q(row(I))})`), 'the service filter');
  await fill('#integrations-state', 'ERROR');
  await waitFor('document.querySelectorAll("#integrations-rows tr[data-integration-id]").length === 0', 'none in error');
  check((await text('#integrations-summary')) === 'No integrations match these filters.', 'says no match');
  await fill('#integrations-state', 'ACTIVE');
  await waitFor(`!!document.querySelector(${q(row(I))})`, 'active Slack');
  await shot('06-filtered', '#integrations-panel');

  // ---- 9. delete ----
  log('delete');
  await clickIn(row(I), 'Delete');
  await waitFor(`!!document.querySelector(${q(row(I) + ' .sy-confirm')})`, 'the confirm step');
  check(await activeId() === 'Cancel', 'the confirm step focuses Cancel');
  await key('Escape', 'Escape', 27);
  check(!(await evaluate(`!!document.querySelector(${q(row(I) + ' .sy-confirm')})`)), 'Escape keeps it');
  await clickIn(row(I), 'Delete');
  await shot('07-delete-confirm', '#integrations-table');
  await clickIn(row(I), 'Delete now');
  await waitFor(`!document.querySelector(${q(row(I))})`, 'the integration gone');
  check(await activeId() === 'integrations-summary', 'focus on the summary');
  const gone = await gql('query($id: ID!) { integration(id: $id) { id } }', { id: I });
  check(gone.integration === null, 'deleted on the server');

  // ---- 10. keyboard: Runs by Enter, closed by Escape ----
  await fill('#integrations-type', '');
  await fill('#integrations-state', '');
  await waitFor('document.querySelectorAll("#integrations-rows tr[data-integration-id]").length === 10', 'all again');
  const J = await firstRowId();
  await evaluate(`Array.prototype.find.call(document.querySelectorAll(${q(row(J) + ' button')}), function (b) { return b.textContent === 'Runs'; }).focus()`);
  await key('Enter', 'Enter', 13);
  await waitFor(`!document.getElementById('integration-detail-${J}').hidden`, 'runs opened by Enter');
  check(await activeId() === `integration-detail-${J}-title`, 'focus on the runs heading');
  await key('Escape', 'Escape', 27);
  await waitFor(`document.getElementById('integration-detail-${J}').hidden`, 'closed by Escape');
  check(await activeId() === 'Runs', 'focus back on Runs');

  // ---- 10b. a sync paused by a missing connection, resumed by connecting again ----
  log('paused sync');
  const ep = await gql('mutation { createDataEndpoint(input: { slug: "contacts", name: "Contacts" }) { dataEndpoint { id } userErrors { message } } }');
  check(!!ep.createDataEndpoint.dataEndpoint, 'a data endpoint for the listing ' + JSON.stringify(ep.createDataEndpoint.userErrors));
  const inbound = await gql('mutation($i: CreateIntegrationInput!) { createIntegration(input: $i) { integration { id } userErrors { field message } } }',
    { i: { name: 'Contacts in', serviceType: 'custom_rest',
      config: { sync: { path: '/contacts', items_pointer: '/data', external_id_field: 'id', endpoint: 'contacts' } } } });
  check(!!inbound.createIntegration.integration, 'an inbound integration ' + JSON.stringify(inbound.createIntegration.userErrors));
  const P = inbound.createIntegration.integration.id;
  const dropped = await gql('mutation($i: DeleteConnectionInput!) { deleteConnection(input: $i) { userErrors { message } } }',
    { i: { id: made.createConnection.connection.id } });
  check(dropped.deleteConnection.userErrors.length === 0, 'the connection deleted ' + JSON.stringify(dropped.deleteConnection.userErrors));
  await reload();
  await waitFor(ready + ` && !!document.querySelector(${q(row(P))})`, 'the inbound integration');
  await clickIn(row(P), 'Runs');
  await waitFor(`(document.querySelector('#integration-detail-${P} .sy-log-meta') || {}).textContent.indexOf('No runs yet') >= 0`, 'its empty run history');
  await clickIn(row(P), 'Sync now');
  const pausedRow = `#integration-detail-${P} tr[data-run-id]`;
  await waitFor(`!!document.querySelector(${q(pausedRow)}) && document.querySelector(${q(pausedRow)}).dataset.status === 'PAUSED'`, 'the run PAUSED', 20000);
  const paused = await cells(pausedRow);
  log('  run: ' + JSON.stringify(paused));
  check(paused[2] === 'paused' && paused[6].includes('has no REST API connection'), 'paused, saying why: ' + JSON.stringify(paused));
  check(await evaluate(`document.querySelector(${q(pausedRow)}).classList.contains('sy-row-warn')`), 'the paused run stands out');
  await waitFor(`document.querySelector(${q(row(P))}).children[1].textContent === 'active'`, 'the integration still active');
  await shot('08b-paused', `#integration-detail-${P}`);
  // Connecting again resumes that run; the page follows live.
  const again = await gql('mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }',
    { i: { provider: 'custom_rest', apiKey: 'ck_test_123', baseUrl: `http://127.0.0.1:${slack.address().port}/api` } });
  check(!!again.createConnection.connection, 'connected again ' + JSON.stringify(again.createConnection.userErrors));
  await waitFor(`document.querySelector(${q(pausedRow)}).dataset.status === 'SUCCEEDED'`, 'the paused run resumed and SUCCEEDED', 20000);
  const resumed = await cells(pausedRow);
  check(resumed[2] === 'succeeded' && resumed[3] === '2', 'the resumed run stored the listing: ' + JSON.stringify(resumed));
  await shot('08c-resumed', `#integration-detail-${P}`);

  await widthShot(1280, '08-wide', '#integrations-panel');
  await widthShot(390, '09-narrow', '#integrations-panel');
  await checkButtonNames(browser);

  // ---- 11. a collaborator ----
  log('collaborator');
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#/integrations`);
  await waitFor(ready + ` && !!document.querySelector(${q(row(J))})`, 'the collaborator\'s view');
  check(JSON.stringify(await buttonsIn(row(J))) === '["Test","Sync now","Runs"]', 'collaborator: Test, Sync now, Runs');
  check(await evaluate('document.getElementById("int-new-section").hidden'), 'collaborator: no New integration form');
  await clickIn(row(J), 'Sync now');
  await waitFor(`!!document.querySelector('#integration-detail-${J} tr[data-run-id]') && document.querySelector('#integration-detail-${J} tr[data-run-id]').dataset.status === 'SUCCEEDED'`, 'the collaborator\'s sync', 20000);
  const synced = await evaluate(`document.querySelector('#integration-detail-${J} tr[data-run-id]').children[3].textContent`);
  await waitFor(`document.querySelector(${q(row(J))}).children[4].textContent === ${q(synced)} && document.querySelector(${q(row(J))}).children[3].textContent !== 'Never'`, 'the row follows the run (last sync, items)');
  await shot('10-collaborator', '#integrations-panel');

  check(foreign.length === 0, 'no request to another origin ' + JSON.stringify(foreign.slice(0, 3)));
}, () => { server.kill('SIGTERM'); slack.close(); }, 'no JS exceptions, no console errors, no failed requests, every check passed');
