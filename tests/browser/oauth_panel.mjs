// Drives the dashboard's OAuth panels and the consent page in headless
// Chromium over the DevTools protocol (no npm packages: Node 20 with
// --experimental-websocket).
//
//   (cd /tmp/run && switchyard serve --listen 127.0.0.1:18473)   # fresh dir: prints a setup link
//   SWITCHYARD_BIN=$(which switchyard) SERVER_DIR=/tmp/run \
//     node --experimental-websocket tests/browser/oauth_panel.mjs http://127.0.0.1:18473 '<setup link>' /tmp/shots
//
// Needs a fresh server (its first-start setup link), /usr/bin/chromium, and
// the `switchyard` binary (SWITCHYARD_BIN, run in SERVER_DIR) to add a
// collaborator. Exits 1 on any failed check, JS exception or console error;
// writes PNG screenshots to the out dir. Not part of `cargo test`.
//
// SY_ASSETS=playground serves /dashboard and /playground/* from that
// directory instead of the server (to try page changes without a rebuild).
// The driver and the checks: ./lib.mjs.
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { log, check, sleep, q, walk, startChrome, setupSignIn, signInCollaborator } from './lib.mjs';

const [BASE, SETUP_LINK, OUT] = process.argv.slice(2);
const CDP_PORT = Number(process.env.CDP_PORT || 9347);
mkdirSync(OUT, { recursive: true });

// ---- the redirect URI receiver ----
const cb = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end('<!doctype html><title>Callback</title><h1>Callback received</h1><pre id="q"></pre>' +
    '<script>document.getElementById("q").textContent = location.search</script>');
});
await new Promise((r) => cb.listen(0, '127.0.0.1', r));
const CB = `http://127.0.0.1:${cb.address().port}/cb`;

// ---- Chromium ----
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/panel-chrome-${process.pid}`, base: BASE,
  out: OUT, waitMs: 8000, fillChange: false, fullPage: true });
const { send, evaluate, waitFor, navigate, click, fill, text, visible, activeId, shot } = browser;
await send('Browser.grantPermissions', { permissions: ['clipboardReadWrite', 'clipboardSanitizedWrite'], origin: BASE }).catch(() => {});

const setChecked = (sel, on) => evaluate(`(function(){var e=document.querySelector(${q(sel)}); if(e.checked!==${on}) e.click(); return true})()`);
// Clicks the button with this text inside the app row of `appName`.
const clickInRow = (appName, buttonText) => evaluate(`(function(){
  var row = Array.prototype.find.call(document.querySelectorAll('#oauth-rows tr'), function (r) {
    var n = r.querySelector('.sy-oauth-app-name'); return n && n.textContent === ${q(appName)}; });
  if (!row) throw new Error('no row ' + ${q(appName)});
  var b = Array.prototype.find.call(row.querySelectorAll('button'), function (b) { return b.textContent === ${q(buttonText)}; });
  if (!b) throw new Error('no button ' + ${q(buttonText)});
  b.click(); return true })()`);

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

// The consent flow in the browser; returns the code from the callback URL.
async function consent(clientId, scope, shotName, deny) {
  const { verifier, challenge } = pkce();
  check(challenge.length === 43, 'code_challenge has 43 characters');
  const url = `${BASE}/oauth/authorize?response_type=code&client_id=${clientId}` +
    `&redirect_uri=${encodeURIComponent(CB)}&scope=${scope}&state=x&code_challenge=${challenge}&code_challenge_method=S256`;
  await navigate(url);
  await waitFor('!document.getElementById("sy-consent").hidden', 'the consent page');
  check(await activeId() === 'sy-approve', 'consent page focuses Authorize');
  if (shotName) await shot(shotName);
  await click(deny ? '#sy-deny' : '#sy-approve');
  await waitFor(`location.href.indexOf(${q(CB)}) === 0`, 'the redirect to the callback');
  const landed = new URL(await evaluate('location.href'));
  if (deny) {
    check(landed.searchParams.get('error') === 'access_denied' && !landed.searchParams.get('code'), 'Deny comes back with error=access_denied');
    return {};
  }
  check(landed.origin + landed.pathname === CB, 'landed on the redirect URI ' + landed.origin + landed.pathname);
  check(landed.searchParams.get('state') === 'x', 'state came back');
  const code = landed.searchParams.get('code');
  check(!!code, 'callback carries a code');
  return { code, verifier };
}

async function tokenFor(clientId, code, verifier) {
  const res = await fetch(`${BASE}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: clientId, code_verifier: verifier }),
  });
  const body = await res.json();
  check(res.status === 200 && body.access_token, 'token endpoint issued an access token');
  return body.access_token;
}

async function useToken(token, times) {
  for (let i = 0; i < times; i++) {
    const r = await fetch(`${BASE}/graphql`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
      body: JSON.stringify({ query: '{ viewer { user { email } scopes } }' }),
    });
    const b = await r.json();
    if (i === 0) check(r.status === 200 && b.data && b.data.viewer, 'GraphQL answers with the access token');
  }
}

const panelReady = 'document.getElementById("oauth-summary").textContent.indexOf("Loading") === -1';
const rowCount = 'document.querySelectorAll("#oauth-rows tr[data-app-id]").length';

await walk(browser, async () => {
  // ---- 1. set the owner's password, land signed in ----
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');

  await navigate(`${BASE}/dashboard#/oauth-apps`);
  await waitFor(`!document.getElementById("oauth-panel").hidden && ${panelReady}`, 'the OAuth apps panel');
  check(await visible('#authorized-panel'), '"Apps you authorized" shown to the owner');
  check((await text('#oauth-summary')).startsWith('No apps yet'), 'empty list says so');
  await shot('01-dashboard-empty');
  const unlabelled = await evaluate(`Array.prototype.filter.call(document.querySelectorAll('#oauth-panel input, #oauth-panel textarea'), function (i) {
    return !(i.labels && i.labels.length) && !i.getAttribute('aria-label'); }).map(function (i) { return i.id || i.name; })`);
  check(unlabelled.length === 0, 'every form control has a label ' + JSON.stringify(unlabelled));

  // ---- 2. user errors next to their fields ----
  log('create with bad input');
  await fill('#oauth-name', '');
  await fill('#oauth-uris', 'https://ok.example/cb\nhttp://evil.example/cb');
  await setChecked('input[name="oauth-scope"][value="READ"]', false);
  await click('#oauth-create');
  await waitFor('!document.getElementById("oauth-name-error").hidden', 'field errors');
  check(!!(await text('#oauth-name-error')), 'name error shown: ' + await text('#oauth-name-error'));
  check((await text('#oauth-uris-error')).startsWith('Line 2'), 'redirect URI error names line 2: ' + await text('#oauth-uris-error'));
  check(!!(await text('#oauth-scopes-error')), 'scopes error shown: ' + await text('#oauth-scopes-error'));
  check(await activeId() === 'oauth-name', 'focus on the first field at fault');
  check(await evaluate('document.getElementById("oauth-name").getAttribute("aria-invalid")') === 'true', 'name marked aria-invalid');
  await shot('02-create-user-errors', '#oauth-panel .sy-subsection');

  // ---- 3. a confidential app: the secret box ----
  log('create a confidential app');
  await fill('#oauth-name', 'Reporting bot');
  await fill('#oauth-description', 'Pulls the weekly numbers into the finance sheet.');
  await fill('#oauth-uris', 'https://reports.example.com/oauth/callback\nhttp://127.0.0.1:8765/callback');
  await setChecked('input[name="oauth-scope"][value="READ"]', true);
  await setChecked('input[name="oauth-scope"][value="WRITE"]', true);
  check(await evaluate('document.getElementById("oauth-confidential").checked'), 'confidential is on by default');
  await click('#oauth-create');
  await waitFor('!document.getElementById("oauth-secret").hidden', 'the secret box');
  const secret1 = await evaluate('document.getElementById("oauth-secret-value").value');
  check(/^secret_/.test(secret1), 'secret shown once: ' + secret1.slice(0, 12) + '…');
  check(await activeId() === 'oauth-secret-title', 'focus moves to the secret box');
  check(await text('#oauth-name-error') === '' && !(await visible('#oauth-name-error')), 'field errors cleared');
  await waitFor(`${rowCount} === 1`, 'one app listed');
  await shot('03-confidential-created-secret');
  await click('#oauth-secret-copy');
  await waitFor('document.getElementById("oauth-secret-copied").textContent !== ""', 'copy result');
  log('  copy: ' + await text('#oauth-secret-copied'));
  const clip = await evaluate('navigator.clipboard.readText().catch(function(e){return "unreadable: " + e.message})');
  check(clip === secret1, 'Copy put the secret on the clipboard');
  await click('#oauth-secret-done');
  check(!(await visible('#oauth-secret')) && await evaluate('document.getElementById("oauth-secret-value").value') === '', 'secret box hidden and emptied');

  // ---- 4. a public app ----
  log('create a public app');
  await fill('#oauth-name', 'Command-line client');
  await fill('#oauth-uris', CB);
  await setChecked('input[name="oauth-scope"][value="WRITE"]', true);
  await setChecked('#oauth-confidential', false);
  await click('#oauth-create');
  await waitFor(`${rowCount} === 2`, 'two apps listed');
  check(!(await visible('#oauth-secret')), 'no secret box for a public app');
  const apps = await evaluate(`Array.prototype.map.call(document.querySelectorAll('#oauth-rows tr[data-app-id]'), function (r) {
    return Array.prototype.map.call(r.children, function (c) { return c.textContent.replace(/\\s+/g, ' ').trim(); }); })`);
  log('  rows: ' + JSON.stringify(apps));
  check(apps[0][0].endsWith(' public') && apps[1][0].includes(' confidential'), 'types shown: public / confidential');
  check(!apps[0][7].includes('Roll secret') && apps[1][7].includes('Roll secret'), 'Roll secret only for the confidential app');
  check(await evaluate(`(function(){var w=document.querySelector('#oauth-table').parentNode; return w.scrollWidth <= w.clientWidth})()`), 'the apps table fits the panel at 1280 px');
  const publicClientId = apps[0][1];
  check(/^client_/.test(publicClientId), 'client id listed: ' + publicClientId);

  // ---- 5. roll the secret ----
  log('roll the secret');
  await clickInRow('Reporting bot', 'Roll secret');
  await waitFor('!!document.querySelector("#oauth-rows .sy-confirm")', 'the roll confirm step');
  check(await activeId() === 'Cancel', 'confirm step focuses Cancel');
  await shot('04-roll-confirm', '#oauth-table');
  await clickInRow('Reporting bot', 'Roll now');
  await waitFor('!document.getElementById("oauth-secret").hidden', 'the new secret');
  const secret2 = await evaluate('document.getElementById("oauth-secret-value").value');
  check(/^secret_/.test(secret2) && secret2 !== secret1, 'a new, different secret shown');
  check((await text('#oauth-secret-title')).startsWith('New client secret for Reporting bot'), 'secret box says it is new');
  await shot('05-secret-rolled');
  await click('#oauth-secret-done');

  // ---- 6. consent in the browser, twice (one withdrawn by the user, one revoked by the owner) ----
  log('consent flow');
  const first = await consent(publicClientId, 'read', '06-consent-page');
  await shot('07-callback-with-code');
  const token = await tokenFor(publicClientId, first.code, first.verifier);
  await useToken(token, 5);
  await sleep(6000);   // usage counters are flushed every few seconds

  await navigate(`${BASE}/dashboard#/oauth-apps`);
  await waitFor(`${rowCount} === 2 && document.querySelectorAll('#authorized-rows tr:not(.sy-placeholder)').length === 1`, 'apps and the authorization');
  const pubRow = await evaluate(`Array.prototype.map.call(document.querySelector('#oauth-rows tr[data-app-id]').children, function (c) { return c.textContent.trim(); })`);
  log('  public app row: ' + JSON.stringify(pubRow));
  check(Number(pubRow[4]) >= 5 && Number(pubRow[5]) >= 5, 'requests (7 days, total) counted: ' + pubRow[4] + ', ' + pubRow[5]);
  check(pubRow[6] !== 'Never', 'last used shown: ' + pubRow[6]);
  await clickInRow('Command-line client', 'Authorizations');
  await waitFor('!!document.querySelector(".sy-authz-table")', 'the authorizations list');
  check((await activeId()).startsWith('oauth-authz-title-'), 'focus on the authorizations heading');
  check(await evaluate(`document.querySelector('#oauth-rows button[aria-expanded="true"]') !== null`), 'aria-expanded true');
  check((await text('.sy-authz-table tbody')).includes('owner@localhost'), 'authorization of owner@localhost listed');
  check((await text('#authorized-rows')).includes('Command-line client'), '"Apps you authorized" lists the app');
  await shot('08-authorizations-and-authorized-apps');
  log('  topbar: ' + await evaluate('JSON.stringify({signOutRight: document.getElementById("sy-signout").getBoundingClientRect().right, clientWidth: document.documentElement.clientWidth, innerWidth: innerWidth})'));
  await shot('08b-oauth-panel', '#oauth-panel');
  const ax = await send('Accessibility.getFullAXTree');
  const nameless = ax.nodes.filter((n) => n.role && n.role.value === 'button' && !n.ignored && !(n.name && n.name.value));
  check(nameless.length === 0, 'every button has an accessible name (' + nameless.length + ' without)');
  const names = ax.nodes.filter((n) => n.role && n.role.value === 'button' && n.name).map((n) => n.name.value);
  log('  button names: ' + JSON.stringify(names.filter((n) => /Roll|Delete|Revoke|Withdraw|Authorizations/.test(n))));
  check(await evaluate(`(function(){var w=document.querySelector('#oauth-table').parentNode; return w.scrollWidth <= w.clientWidth})()`), 'the apps table (authorizations open) fits the panel');

  // Withdraw from "Apps you authorized".
  log('withdraw');
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('#authorized-rows button'), function (b) { return b.textContent === 'Withdraw'; }).click()`);
  await waitFor('!!document.querySelector("#authorized-rows .sy-confirm")', 'the withdraw confirm step');
  await shot('09-withdraw-confirm', '#authorized-panel');
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('#authorized-rows button'), function (b) { return b.textContent === 'Withdraw now'; }).click()`);
  await waitFor(`document.getElementById('authorized-summary').textContent.indexOf('not authorized') !== -1`, 'the empty list');
  await waitFor(`(document.querySelector('.sy-oauth-authz') || {}).textContent && document.querySelector('.sy-oauth-authz').textContent.indexOf('Nobody') !== -1`, 'the open authorizations list refreshed');
  check(await activeId() === 'authorized-summary', 'focus on the list summary after withdrawing');
  const introspect = await (await fetch(`${BASE}/graphql`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token }, body: JSON.stringify({ query: '{ viewer { role } }' }) })).status;
  check(introspect === 401, 'the withdrawn token no longer works (HTTP ' + introspect + ')');

  // Authorize again, then the owner revokes it from the app's list.
  log('deny, then consent again, revoke as owner');
  await consent(publicClientId, 'read', null, true);
  const second = await consent(publicClientId, 'read', null);
  await tokenFor(publicClientId, second.code, second.verifier);
  await navigate(`${BASE}/dashboard#/oauth-apps`);
  await waitFor(`${rowCount} === 2`, 'apps');
  await clickInRow('Command-line client', 'Authorizations');
  await waitFor('!!document.querySelector(".sy-authz-table")', 'the authorizations list');
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('.sy-authz-table button'), function (b) { return b.textContent === 'Revoke'; }).click()`);
  await waitFor('!!document.querySelector(".sy-authz-table .sy-confirm")', 'the revoke confirm step');
  await shot('10-revoke-confirm', '#oauth-table');
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('.sy-authz-table button'), function (b) { return b.textContent === 'Revoke now'; }).click()`);
  await waitFor(`document.querySelector('.sy-oauth-authz').textContent.indexOf('Nobody') !== -1`, 'the list after revoking');
  check((await activeId()).startsWith('oauth-authz-title-'), 'focus back on the authorizations heading');

  // ---- 7. delete an app ----
  log('delete');
  await clickInRow('Reporting bot', 'Delete');
  await waitFor('!!document.querySelector("#oauth-rows .sy-confirm")', 'the delete confirm step');
  await send('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Escape', code: 'Escape', windowsVirtualKeyCode: 27 });
  await send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Escape', code: 'Escape', windowsVirtualKeyCode: 27 });
  check(!(await evaluate('!!document.querySelector("#oauth-rows .sy-confirm")')), 'Escape cancels the confirm step');
  check(await evaluate('document.activeElement.getAttribute("aria-label")') === 'Delete Reporting bot', 'focus back on Delete');
  await clickInRow('Reporting bot', 'Delete');
  await waitFor('!!document.querySelector("#oauth-rows .sy-confirm")', 'the delete confirm step');
  await shot('11-delete-confirm', '#oauth-table');
  await clickInRow('Reporting bot', 'Delete app');
  await waitFor(`${rowCount} === 1`, 'one app left');
  check(!(await text('#oauth-rows')).includes('Reporting bot'), 'deleted app gone');
  check(await activeId() === 'oauth-summary', 'focus on the list summary after deleting');
  await shot('12-after-delete');
  await send('Emulation.setDeviceMetricsOverride', { width: 820, height: 900, deviceScaleFactor: 1, mobile: false });
  await sleep(300);
  await shot('12b-narrow-820px', '#oauth-panel');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });

  // ---- 8. a collaborator: no apps panel, their own authorizations ----
  log('collaborator');
  await signInCollaborator(browser, { bin: process.env.SWITCHYARD_BIN, dir: process.env.SERVER_DIR, listen: new URL(BASE).host });
  await consent(publicClientId, 'read', '13-consent-collaborator');
  await navigate(`${BASE}/dashboard#/oauth-apps`);
  await waitFor(`document.querySelectorAll('#authorized-rows tr:not(.sy-placeholder)').length === 1`, 'the collaborator\'s authorization');
  await sleep(500);
  check(!(await visible('#oauth-panel')), 'OAuth apps panel hidden for a collaborator');
  await shot('14-collaborator-dashboard');
}, () => { cb.close(); }, 'no JS exceptions, no console errors, every check passed');
