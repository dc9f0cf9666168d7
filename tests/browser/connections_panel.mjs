// Drives the dashboard's Connections panel in headless Chromium over the
// DevTools protocol (no npm packages: Node 20 with --experimental-websocket).
// It starts everything itself: a tiny OAuth provider (node:http: authorize
// redirects straight back with code and state, token, /me answering
// {"username":"mybusiness"}, a small REST API), and a fresh Switchyard in a
// fresh directory with --allow-private-targets true so the server may call
// 127.0.0.1.
//
//   cargo build && node --experimental-websocket tests/browser/connections_panel.mjs \
//     target/debug/switchyard /tmp/shots [port]
//
// The walk: sign in through the setup link, set Instagram's provider
// settings to the local provider, Connect (the real redirect, there and
// back), see @mybusiness connected; connect a custom REST API with a key (a
// wrong key first); make calls (panel form and a page fetch to /graphql)
// and watch the usage label and call log; a 401 with a dead refresh token
// makes the connection NEEDS_REAUTH, Reconnect restores it; disconnect; a
// collaborator sees the table read-only. Exits 1 on any failed check, JS
// exception or console error; writes PNG screenshots to the out dir
// (connections-*.png). Needs /usr/bin/chromium. Not part of `cargo test`.
//
// SY_ASSETS=playground serves /dashboard and /playground/* from that
// directory instead of the binary (to try page changes without a rebuild).
// The driver and the checks: ./lib.mjs.
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { log, check, sleep, q, walk, checkButtonNames, startServer, startChrome, setupSignIn, signInCollaborator } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || '/work/shots';
const PORT = Number(process.argv[4] || 18480);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9348);
mkdirSync(OUT, { recursive: true });

// ---- the OAuth provider and API ----
const CODE = 'code-' + Math.random().toString(36).slice(2);
const hits = [];
let tokenNo = 0;
let accessToken = null;
const provider = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    hits.push(req.method + ' ' + url.pathname);
    const json = (status, v) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(v)); };
    const auth = req.headers.authorization || '';
    if (url.pathname === '/authorize') {
      // "The user signs in and approves": straight back with code and state.
      const back = new URL(url.searchParams.get('redirect_uri'));
      back.searchParams.set('code', CODE);
      back.searchParams.set('state', url.searchParams.get('state'));
      res.writeHead(302, { Location: back.toString() });
      res.end();
    } else if (url.pathname === '/token' && req.method === 'POST') {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') === 'authorization_code' && form.get('code') === CODE) {
        accessToken = 'tok-' + (++tokenNo);
        json(200, { access_token: accessToken, token_type: 'bearer', expires_in: 5184000, refresh_token: 'refresh-' + tokenNo });
      } else {
        // Refresh tokens are dead: a refresh after a 401 breaks the connection.
        json(400, { error: 'invalid_grant', error_description: 'refresh token revoked' });
      }
    } else if (url.pathname.startsWith('/ig/')) {
      if (auth !== 'Bearer ' + accessToken || url.pathname === '/ig/revoked') return json(401, { error: 'expired token' });
      if (url.pathname === '/ig/me') return json(200, { id: '1789', username: 'mybusiness' });
      if (url.pathname === '/ig/me/media') return json(200, { data: [{ id: 'm1' }, { id: 'm2' }] });
      json(404, { error: { message: 'Unknown path' } });
    } else if (url.pathname.startsWith('/rest')) {
      if (auth !== 'Bearer key-123') return json(401, { error: 'bad key' });
      json(200, { ok: true, path: url.pathname });
    } else {
      json(404, { error: 'not found' });
    }
  });
});
await new Promise((r) => provider.listen(0, '127.0.0.1', r));
const P = `http://127.0.0.1:${provider.address().port}`;

// ---- a fresh Switchyard ----
const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({
  bin: BIN, port: PORT, prefix: 'sy-connections-', cleanup: () => provider.close() });

// ---- Chromium ----
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/connections-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'connections-' });
const { send, visited, evaluate, waitFor, navigate, click, fill, text, visible, activeId, clickIn, cells, shot } = browser;
// The cells of a connection row, as text.
const connRow = (providerKey) => cells(`#connections-rows tr[data-provider="${providerKey}"]`);
const statusOf = (providerKey) => evaluate(`(function(){
  var b = document.querySelector('#connections-rows tr[data-provider="${providerKey}"] .sy-conn-status');
  return b ? b.dataset.status : null })()`);

const panelReady = '!document.getElementById("connections-panel").hidden && ' +
  'document.getElementById("connections-summary").textContent.indexOf("Loading") === -1';
const catalogRow = (key) => `#catalog-rows tr[data-provider="${key}"]`;

await walk(browser, async () => {
  // ---- 1. the owner sets a password and lands signed in ----
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');

  await navigate(`${BASE}/dashboard#connections-panel`);
  await waitFor(panelReady, 'the Connections panel');
  await waitFor('document.querySelectorAll("#catalog-rows tr[data-provider]").length === 18', 'the 18 services of the catalog');
  check((await text('#connections-summary')).startsWith('No connections yet'), 'empty list says so');
  check(await waitFor('document.getElementById("connections-status").dataset.state === "live"', 'the live pill'), 'live over the connectionStats subscription');
  check(await visible('#psettings-form'), 'provider settings shown to the owner');
  const unlabelled = await evaluate(`Array.prototype.filter.call(document.querySelectorAll('#connections-panel input, #connections-panel select, #connections-panel textarea'), function (i) {
    return !(i.labels && i.labels.length) && !i.getAttribute('aria-label'); }).map(function (i) { return i.id || i.name; })`);
  check(unlabelled.length === 0, 'every form control has a label ' + JSON.stringify(unlabelled));
  check(await evaluate('!!document.querySelector("#connections-table caption") && !!document.querySelector("#catalog-table caption")'), 'tables have captions');
  await shot('01-empty', '#connections-panel');

  // ---- 2. Connect before the OAuth client is set: the user error shows in the row ----
  log('connect without a client');
  check((await text(catalogRow('instagram'))).includes('Set its OAuth client first'), 'Instagram says it needs its client first');
  await clickIn(catalogRow('instagram'), 'Connect');
  await waitFor(`document.querySelector(${q(catalogRow('instagram') + ' .sy-inline-error')}) !== null`, 'the startConnection user error');
  log('  row error: ' + await text(catalogRow('instagram') + ' .sy-inline-error'));
  check((await text(catalogRow('instagram') + ' .sy-inline-error')).includes('client id and secret'), 'user error names the missing client');

  // ---- 3. provider settings: a bad URL first, then the local provider ----
  log('provider settings');
  await clickIn(catalogRow('instagram'), 'Settings');
  check(await evaluate('document.getElementById("psettings-provider").value') === 'instagram', 'Settings picks Instagram in the form');
  check(await activeId() === 'psettings-client-id', 'focus on the client id');
  await fill('#psettings-client-id', 'ig-client-1');
  await fill('#psettings-client-secret', 'ig-secret-1');
  await fill('#psettings-authorize-url', 'not a url');
  await click('#psettings-save');
  await waitFor('!document.getElementById("psettings-authorizeUrl-error").hidden', 'the field error');
  check(!!(await text('#psettings-authorizeUrl-error')), 'authorize URL error next to its field: ' + await text('#psettings-authorizeUrl-error'));
  check(await activeId() === 'psettings-authorize-url', 'focus on the field at fault');
  await shot('02-settings-error', '#psettings-section');
  await fill('#psettings-authorize-url', `${P}/authorize`);
  await fill('#psettings-token-url', `${P}/token`);
  await fill('#psettings-api-base-url', `${P}/ig`);
  await click('#psettings-save');
  await waitFor('document.getElementById("psettings-result").textContent.indexOf("Saved") === 0', 'saved');
  check(await evaluate('document.getElementById("psettings-client-secret").value') === '', 'the secret field is emptied after saving');
  check((await evaluate('document.getElementById("psettings-client-secret").placeholder')).startsWith('***'), 'the secret shows as ***');
  check((await text('#psettings-state')).startsWith('OAuth client set'), 'state says the client is set');
  check(!(await text(catalogRow('instagram'))).includes('Set its OAuth client first'), 'the catalog row no longer asks for the client');
  await shot('03-settings-saved', '#psettings-section');

  // ---- 4. Connect Instagram: the real redirect, there and back ----
  log('connect Instagram over OAuth');
  visited.length = 0;
  await clickIn(catalogRow('instagram'), 'Connect');
  await waitFor('location.pathname === "/dashboard" && location.hash === "#connections-panel" && ' +
    '!!document.querySelector(\'#connections-rows tr[data-provider="instagram"]\')', 'back on the panel with Instagram', 15000);
  log('  visited: ' + JSON.stringify(visited.map((u) => u.replace(/code=[^&]+/, 'code=…').replace(/state=[^&]+/, 'state=…'))));
  check(visited.some((u) => u.startsWith(`${BASE}/connect/instagram/callback`)), 'the provider sent the browser to /connect/instagram/callback');
  check(hits.includes('GET /authorize') && hits.includes('POST /token') && hits.includes('GET /ig/me'), 'authorize, token and /me reached the provider');
  const ig = await connRow('instagram');
  log('  row: ' + JSON.stringify(ig));
  check(ig[1] === '@mybusiness', 'account @mybusiness');
  check(await statusOf('instagram') === 'CONNECTED' && ig[2] === 'connected', 'status CONNECTED');
  check(ig[3] === 'Never' && ig[4] === '0 / 4800', 'never used, 0 / 4800 calls');
  check((await text(catalogRow('instagram'))).includes('Connected as @mybusiness'), 'the catalog row says it is connected');
  await sleep(300);
  check(await evaluate('Math.abs(document.getElementById("connections-panel").getBoundingClientRect().top) < 40'), 'the panel is scrolled into view');
  await shot('04-instagram-connected');
  const igId = await evaluate(`document.querySelector('#connections-rows tr[data-provider="instagram"]').dataset.connectionId`);

  // ---- 5. a key service: a wrong key first ----
  log('connect a custom REST API');
  await clickIn(catalogRow('custom_rest'), 'Connect');
  await waitFor('!document.getElementById("connect-form-custom_rest").hidden', 'the key form');
  check(await activeId() === 'connect-custom_rest-api-key', 'focus on the API key');
  await fill('#connect-custom_rest-api-key', 'wrong-key');
  await fill('#connect-custom_rest-base-url', `${P}/rest`);
  await click('#connect-form-custom_rest button[type="submit"]');
  await waitFor('!!document.querySelector("#connect-form-custom_rest .sy-error:not([hidden])")', 'the refusal');
  log('  refusal: ' + await text('#connect-form-custom_rest .sy-error'));
  check((await text('#connect-form-custom_rest .sy-error')).includes('refused the credentials'), 'refused, shown next to the form');
  await shot('05-key-refused', '#catalog-section');
  await fill('#connect-custom_rest-api-key', 'key-123');
  await click('#connect-form-custom_rest button[type="submit"]');
  await waitFor('!!document.querySelector(\'#connections-rows tr[data-provider="custom_rest"]\')', 'the REST connection');
  const rest = await connRow('custom_rest');
  log('  row: ' + JSON.stringify(rest));
  check(rest[1] === '127.0.0.1' && await statusOf('custom_rest') === 'CONNECTED', 'REST connected (account = host)');
  check(rest[4] === '0', 'no quota: just the count');

  // ---- 6. calls: the panel's form, then a page fetch to /graphql ----
  log('calls');
  await clickIn('#connections-rows tr[data-provider="instagram"]', 'Calls');
  await waitFor(`!!document.querySelector('#connection-calls-${igId} .sy-call-form')`, 'the call log');
  check(await activeId() === 'connection-calls-title-' + igId, 'focus on the call log heading');
  check((await text(`#connection-calls-${igId}`)).includes('No calls yet'), 'no calls yet');
  await fill(`#call-${igId}-path`, '/me/media');
  await click(`#connection-calls-${igId} .sy-call-form button[type="submit"]`);
  await waitFor(`document.getElementById('call-${igId}-result').textContent.indexOf('succeeded') === 0`, 'the call result');
  log('  result: ' + await text(`#call-${igId}-result`));
  await fill(`#call-${igId}-path`, '/nothing-here');
  await click(`#connection-calls-${igId} .sy-call-form button[type="submit"]`);
  await waitFor(`document.getElementById('call-${igId}-result').textContent.indexOf('failed') === 0`, 'the failed call');
  const viaFetch = await evaluate(`window.Switchyard.gql('mutation($i: CallConnectionInput!) { callConnection(input: $i) { call { status httpStatus } userErrors { message } } }',
    { i: { connectionId: ${q(igId)}, method: 'GET', path: '/me?fields=username' } }).then(function (d) { return d.callConnection.call; })`);
  check(viaFetch && viaFetch.status === 'SUCCEEDED' && viaFetch.httpStatus === 200, 'callConnection through fetch to /graphql');
  await waitFor(`(function(){var r=document.querySelector('#connections-rows tr[data-provider="instagram"]'); return r && r.children[4].textContent === '3 / 4800'})()`,
    'the usage label 3 / 4800 (live)', 12000);
  await waitFor(`document.querySelectorAll('#connection-calls-${igId} .sy-calls-table tbody tr').length === 3`, 'three calls in the log', 12000);
  const igAfter = await connRow('instagram');
  log('  row: ' + JSON.stringify(igAfter));
  check(igAfter[4] === '3 / 4800', 'usage label 3 / 4800');
  check(igAfter[5] === '66.7%', 'success rate 66.7%');
  check(igAfter[3] !== 'Never', 'last used shown: ' + igAfter[3]);
  const logRows = await evaluate(`Array.prototype.map.call(document.querySelectorAll('#connection-calls-${igId} .sy-calls-table tbody tr'), function (r) {
    return Array.prototype.map.call(r.children, function (c) { return c.textContent.replace(/\\s+/g, ' ').trim(); }); })`);
  log('  log: ' + JSON.stringify(logRows));
  check(logRows[1][1] === 'GET' && logRows[1][2] === '/nothing-here' && logRows[1][3] === 'failed' && logRows[1][4] === '404' && logRows[1][5] === '1',
    'the log shows method, path, result, HTTP status and attempts');
  check(/ms$/.test(logRows[2][6]), 'and the duration: ' + logRows[2][6]);
  check(await evaluate(`(function(){var w=document.querySelector('#connections-table').parentNode; return w.scrollWidth <= w.clientWidth})()`), 'the connections table fits the panel at 1280 px');
  await shot('06-calls', '#connections-panel .sy-table-wrap');
  await evaluate(`window.Switchyard.gql('mutation($i: CallConnectionInput!) { callConnection(input: $i) { call { status } } }',
    { i: { connectionId: document.querySelector('#connections-rows tr[data-provider="custom_rest"]').dataset.connectionId, method: 'GET', path: '/orders' } })`);
  await waitFor(`(function(){var r=document.querySelector('#connections-rows tr[data-provider="custom_rest"]'); return r && r.children[4].textContent === '1'})()`,
    'the REST usage updated live', 12000);

  // ---- 7. a 401 with a dead refresh token: NEEDS_REAUTH, then Reconnect ----
  log('needs reauth and reconnect');
  await fill(`#call-${igId}-path`, '/revoked');
  await click(`#connection-calls-${igId} .sy-call-form button[type="submit"]`);
  await waitFor(`document.getElementById('call-${igId}-result').textContent.indexOf('failed') === 0`, 'the 401 call');
  log('  result: ' + await text(`#call-${igId}-result`));
  await waitFor(`(function(){var b=document.querySelector('#connections-rows tr[data-provider="instagram"] .sy-conn-status'); return b && b.dataset.status === 'NEEDS_REAUTH'})()`, 'NEEDS_REAUTH', 12000);
  check((await connRow('instagram'))[2] === 'needs reauth', 'the badge says needs reauth');
  check(!!(await evaluate(`Array.prototype.find.call(document.querySelectorAll('#connections-rows tr[data-provider="instagram"] button'), function (b) { return b.textContent === 'Reconnect'; })`)), 'a Reconnect button');
  await shot('07-needs-reauth', '#connections-panel .sy-table-wrap');
  await clickIn('#connections-rows tr[data-provider="instagram"]', 'Reconnect');
  await waitFor('location.pathname === "/connect/instagram/callback"', 'the callback page', 10000);
  await waitFor('location.pathname === "/dashboard" && location.hash === "#connections-panel"', 'back on the panel', 10000);
  await waitFor(`(function(){var b=document.querySelector('#connections-rows tr[data-provider="instagram"] .sy-conn-status'); return b && b.dataset.status === 'CONNECTED'})()`, 'CONNECTED again');
  check(await evaluate(`document.querySelector('#connections-rows tr[data-provider="instagram"]').dataset.connectionId`) === igId, 'reconnecting kept the connection id');
  await shot('08-reconnected');

  // ---- 8. disconnect, with a confirm step ----
  log('disconnect');
  await clickIn('#connections-rows tr[data-provider="instagram"]', 'Disconnect');
  await waitFor('!!document.querySelector("#connections-rows .sy-confirm")', 'the confirm step');
  check(await activeId() === 'Cancel', 'confirm step focuses Cancel');
  await shot('09-disconnect-confirm', '#connections-panel .sy-table-wrap');
  await send('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Escape', code: 'Escape', windowsVirtualKeyCode: 27 });
  await send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Escape', code: 'Escape', windowsVirtualKeyCode: 27 });
  check(!(await evaluate('!!document.querySelector("#connections-rows .sy-confirm")')), 'Escape cancels');
  await clickIn('#connections-rows tr[data-provider="instagram"]', 'Disconnect');
  await waitFor('!!document.querySelector("#connections-rows .sy-confirm")', 'the confirm step');
  await clickIn('#connections-rows tr[data-provider="instagram"]', 'Disconnect now');
  await waitFor('!document.querySelector(\'#connections-rows tr[data-provider="instagram"]\')', 'Instagram gone');
  check(await activeId() === 'connections-summary', 'focus on the summary after disconnecting');
  check((await text(catalogRow('instagram'))).includes('Connect'), 'Instagram can be connected again');

  // ---- 9. incoming webhooks: the URL shown once ----
  log('incoming webhooks');
  await clickIn(catalogRow('incoming_webhooks'), 'Connect');
  await waitFor('!document.getElementById("connect-form-incoming_webhooks").hidden', 'the webhook form');
  await click('#connect-form-incoming_webhooks button[type="submit"]');
  await waitFor('!document.getElementById("connections-secret").hidden', 'the shown-once URL');
  const hookUrl = await evaluate('document.getElementById("connections-secret-value").value');
  check(hookUrl.startsWith(`${BASE}/hooks/`), 'incoming URL shown once: ' + hookUrl.replace(/[^/]+$/, '…'));
  check(await activeId() === 'connections-secret-title', 'focus on the URL box');
  await waitFor('!!document.querySelector(\'#connections-rows tr[data-provider="incoming_webhooks"]\')', 'the webhooks connection');
  await shot('10-incoming-url', '#connections-panel');
  await click('#connections-secret-done');
  check(!(await visible('#connections-secret')), 'URL box hidden');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 3200, deviceScaleFactor: 1, mobile: false });
  await sleep(300);
  await shot('11-owner-panel', '#connections-panel');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });

  // ---- 10. a collaborator: the table, read-only ----
  log('collaborator');
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#connections-panel`);
  await waitFor(panelReady + ' && document.querySelectorAll("#connections-rows tr[data-provider]").length === 2', 'the collaborator\'s table');
  await sleep(500);
  check(!(await visible('#catalog-section')) && !(await visible('#psettings-section')), 'no connect or settings for a collaborator');
  const collabButtons = await evaluate(`Array.prototype.map.call(document.querySelectorAll('#connections-rows button'), function (b) { return b.textContent; })`);
  check(collabButtons.every((b) => b === 'Calls'), 'only Calls buttons: ' + JSON.stringify(collabButtons));
  await clickIn('#connections-rows tr[data-provider="custom_rest"]', 'Calls');
  await waitFor('!!document.querySelector("#connections-rows .sy-calls-table")', 'the call log');
  check(!(await evaluate('!!document.querySelector("#connections-rows .sy-call-form")')), 'no call form for a collaborator');
  await shot('12-collaborator', '#connections-panel');
  await checkButtonNames(browser);
}, () => { server.kill('SIGTERM'); provider.close(); }, 'no JS exceptions, no console errors, every check passed');
