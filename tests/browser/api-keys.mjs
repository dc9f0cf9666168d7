// Drives the console's API keys area (`/dashboard#/api-keys`) in headless
// Chromium over the DevTools protocol (Node 20 with --experimental-websocket,
// no npm packages). It starts a fresh Switchyard in a fresh directory.
//
//   cargo build && node --experimental-websocket tests/browser/api-keys.mjs \
//     target/debug/switchyard target/browser-shots [port]
//
// The walk: sign in through the setup link; the server's field errors next
// to their fields; create a live key with scopes and expiry: its secret is
// shown once in a dialog (focus on Copy, copied to the clipboard), gone from
// the page once the dialog is closed and after a reload; requests made with
// it show in the usage columns; edit it; disable (the key gets 401) and
// enable; roll (a new secret, the old one still works in the grace period);
// delete (Escape keeps, then confirmed); 21 more keys page (older/newer)
// and the search filter; a key made and its dialog closed with the keyboard
// alone; screenshots at 1280 and 390 px; a collaborator
// sees no key controls. Exits 1 on any failed check, JS exception, console
// error, failed request, HTTP error answer or request to another origin.
//
// SY_ASSETS=playground serves the pages' files from that directory instead
// of the binary (to try page changes without a rebuild). The driver: ./lib.mjs.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { log, check, sleep, q, walk, checkButtonNames, startServer, startChrome, setupSignIn, signInCollaborator,
  sameOriginOnly, viewport, checkLabels, shotBoth, pageGql } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || 'target/browser-shots';
const PORT = Number(process.argv[4] || 18510);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9371);
mkdirSync(OUT, { recursive: true });

const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({ bin: BIN, port: PORT, prefix: 'sy-apikeys-' });
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/apikeys-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'api-keys-', network: true, fillChange: false });
const { send, evaluate, waitFor, navigate, reload, click, fill, text, visible, activeId, buttonsIn, clickIn, cells, key, shot } = browser;
sameOriginOnly(browser, BASE);
await send('Browser.grantPermissions', { permissions: ['clipboardReadWrite', 'clipboardSanitizedWrite'], origin: BASE }).catch(() => {});

const ready = '!document.getElementById("ak-panel").hidden && document.getElementById("ak-summary").textContent.indexOf("Loading") === -1';
const rowSel = (name) => `(function(){ return Array.prototype.find.call(document.querySelectorAll('#ak-rows tr[data-key-id]'), function (r) {
  return r.querySelector('.sy-oauth-app-name').textContent === ${q(name)}; }) })()`;
const rowId = (name) => evaluate(`(function(){ var r = ${rowSel(name)}; return r ? r.dataset.keyId : null })()`);
const rowOf = (id) => `#ak-rows tr[data-key-id="${id}"]`;
const useKey = async (secret, times) => {
  let status = 0;
  for (let i = 0; i < times; i++) {
    const r = await fetch(`${BASE}/graphql`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + secret },
      body: JSON.stringify({ query: '{ viewer { role } }' }) });
    status = r.status;
  }
  return status;
};

await walk(browser, async () => {
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');
  await navigate(`${BASE}/dashboard#/api-keys`);
  await waitFor(ready, 'the API keys area');
  check((await text('#ak-summary')).startsWith('No keys yet'), 'empty list says so');
  await checkLabels(browser, '#ak-panel');

  // ---- field errors from the server ----
  log('create with bad input');
  await evaluate(`document.getElementById('ak-n-scopes-0').click()`);   // READ off: no scope left
  await fill('#ak-n-name', '   ');
  await click('#ak-form button[type="submit"]');
  await waitFor('!document.getElementById("ak-n-name-error").hidden || !document.getElementById("ak-n-scopes-error").hidden', 'field errors');
  log('  name: ' + await text('#ak-n-name-error') + ' | scopes: ' + await text('#ak-n-scopes-error'));
  check(!!(await text('#ak-n-name-error')), 'the name error is next to the name');
  check(await activeId() === 'ak-n-name', 'focus on the first field at fault');
  check(await evaluate('document.getElementById("ak-n-name").getAttribute("aria-invalid") === "true"'), 'the name is aria-invalid');
  await fill('#ak-n-name', 'CI deploy');
  check(await evaluate('document.getElementById("ak-n-name-error").hidden && !document.getElementById("ak-n-name").getAttribute("aria-invalid")'),
    'typing in the field clears its error');
  await click('#ak-form button[type="submit"]');
  await waitFor('!document.getElementById("ak-n-scopes-error").hidden', 'the scopes error');
  log('  scopes: ' + await text('#ak-n-scopes-error'));
  check(!!(await text('#ak-n-scopes-error')), 'the scopes error is next to the scopes');
  check(await activeId() === 'ak-n-scopes-0', 'focus on the first scope');
  check(await evaluate('document.querySelectorAll("#ak-rows tr[data-key-id]").length') === 0, 'nothing created');
  await shot('01-field-errors', '#ak-panel .sy-subsection');

  // ---- create: the secret once ----
  log('create a live key');
  await fill('#ak-n-name', 'CI deploy');
  await fill('#ak-n-description', 'Used by the deploy pipeline');
  await evaluate(`document.getElementById('ak-n-scopes-0').click(); document.getElementById('ak-n-scopes-1').click(); document.getElementById('ak-n-env-1').click()`);
  const inAMonth = new Date(Date.now() + 30 * 86400e3);
  const local = inAMonth.getFullYear() + '-' + String(inAMonth.getMonth() + 1).padStart(2, '0') + '-' + String(inAMonth.getDate()).padStart(2, '0') + 'T12:00';
  await fill('#ak-n-expires', local);
  await click('#ak-form button[type="submit"]');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the secret dialog');
  const secret = await evaluate('document.querySelector("dialog.sy-dialog input").value');
  check(/^sk_live_/.test(secret), 'the secret is shown: ' + secret.slice(0, 12) + '…');
  check((await activeId()) === null || (await evaluate('document.activeElement.textContent')) === 'Copy', 'focus on Copy');
  await shot('02-secret-dialog');
  await click('dialog.sy-dialog button');   // Copy
  await waitFor('document.querySelector("dialog.sy-dialog .sy-hint").textContent !== ""', 'the copy result');
  const clip = await evaluate('navigator.clipboard.readText().catch(function (e) { return "unreadable: " + e.message })');
  check(clip === secret, 'Copy put the secret on the clipboard');
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('dialog.sy-dialog button'), function (b) { return b.textContent.indexOf('I stored it') === 0; }).click()`);
  await waitFor('!document.querySelector("dialog.sy-dialog")', 'the dialog closed');
  check(!(await evaluate(`document.documentElement.outerHTML.indexOf(${q(secret)}) >= 0`)), 'the secret is gone from the page');
  await waitFor(`!!${rowSel('CI deploy')}`, 'the new key listed');
  const K = await rowId('CI deploy');
  const row = await cells(rowOf(K));
  log('  row: ' + JSON.stringify(row));
  check(row[0].includes('live') && row[0].includes(secret.slice(0, 12)), 'prefix and environment shown');
  check(row[1] === 'READ, WRITE', 'scopes shown');
  check(row[2].startsWith('active'), 'active');
  check(row[3] !== 'Never', 'expiry shown: ' + row[3]);
  check(JSON.stringify(await buttonsIn(rowOf(K))) === '["Edit","Disable","Roll secret","Delete"]', 'owner controls on the row');
  await reload();
  await waitFor(ready + ` && !!${rowSel('CI deploy')}`, 'the list after a reload');
  check(!(await evaluate(`document.documentElement.outerHTML.indexOf(${q(secret)}) >= 0`)), 'the secret is not shown again after a reload');
  check(!(await evaluate('!!document.querySelector("dialog")')), 'no dialog after a reload');

  // ---- usage ----
  log('usage');
  check(await useKey(secret, 4) === 200, 'the key works');
  await sleep(6500);   // usage counters are flushed every few seconds
  await reload();
  await waitFor(ready + ` && !!${rowSel('CI deploy')}`, 'the list');
  const used = await cells(rowOf(K));
  log('  usage cells: ' + JSON.stringify(used.slice(4, 7)));
  check(Number(used[6]) >= 4, 'requests total counted: ' + used[6]);
  const week = await evaluate(`(function(){ var c = document.querySelector(${q(rowOf(K))}).children[5];
    return { n: Number(c.firstChild.textContent), split: (c.querySelector('.sy-usage-split') || {}).textContent || '' } })()`);
  check(week.n >= 4 && /2xx \d+/.test(week.split), 'requests in 7 days by status class: ' + JSON.stringify(week));
  check(used[4] !== 'Never', 'last used shown');

  // ---- edit ----
  log('edit');
  await clickIn(rowOf(K), 'Edit');
  await waitFor(`!document.getElementById('ak-edit-${K}').hidden`, 'the edit form');
  const pre = 'ak-e-' + K.slice(-8) + '-';
  check(await activeId() === pre + 'name', 'focus on the name');
  check(await evaluate(`document.getElementById('${pre}name').value`) === 'CI deploy', 'the form holds the key');
  await fill('#' + pre + 'name', 'CI deploy (prod)');
  await evaluate(`document.getElementById('${pre}scopes-1').click()`);   // WRITE off
  await evaluate(`document.querySelector('#ak-edit-${K} button[type="submit"]').click()`);
  await waitFor(`!!${rowSel('CI deploy (prod)')}`, 'the renamed key');
  check((await cells(rowOf(K)))[1] === 'READ', 'scopes changed');
  check(await evaluate(`document.getElementById('ak-edit-${K}').hidden`), 'the edit form closed');

  // ---- disable / enable ----
  log('disable, enable');
  await clickIn(rowOf(K), 'Disable');
  await waitFor(`(${q(rowOf(K))} && document.querySelector(${q(rowOf(K) + ' .sy-key-status')}).textContent === 'disabled')`, 'disabled');
  check(await useKey(secret, 1) === 401, 'a disabled key gets 401');
  await clickIn(rowOf(K), 'Enable');
  await waitFor(`document.querySelector(${q(rowOf(K) + ' .sy-key-status')}).textContent === 'active'`, 'enabled again');
  check(await useKey(secret, 1) === 200, 'enabled again, it works');

  // ---- roll ----
  log('roll');
  await clickIn(rowOf(K), 'Roll secret');
  await waitFor(`!!document.querySelector(${q(rowOf(K) + ' .sy-confirm')})`, 'the roll confirm step');
  check(await activeId() === 'Cancel', 'the confirm step focuses Cancel');
  await clickIn(rowOf(K), 'Roll now');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the new secret');
  const rolled = await evaluate('document.querySelector("dialog.sy-dialog input").value');
  check(/^sk_live_/.test(rolled) && rolled !== secret, 'a new secret shown once');
  await key('Escape', 'Escape', 27);
  await waitFor('!document.querySelector("dialog.sy-dialog")', 'Escape closes the dialog');
  check(!(await evaluate(`document.documentElement.outerHTML.indexOf(${q(rolled)}) >= 0`)), 'the rolled secret is gone from the page');
  check(await useKey(rolled, 1) === 200 && await useKey(secret, 1) === 200, 'the new secret works, the old one still (grace period)');
  await waitFor(`(${q(rowOf(K))} && (document.querySelector(${q(rowOf(K))}).textContent.indexOf('old secret until') >= 0))`, 'the grace period shown');

  // ---- paging and search ----
  log('paging');
  for (let i = 1; i <= 21; i++) {
    await pageGql(browser, 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }',
      { i: { name: 'bulk ' + String(i).padStart(2, '0'), scopes: ['READ'] } });
  }
  await reload();
  await waitFor(ready + ' && document.querySelectorAll("#ak-rows tr[data-key-id]").length === 20', 'the first page');
  check((await text('#ak-summary')).startsWith('22 keys'), 'total counted: ' + await text('#ak-summary'));
  check(await visible('#ak-older') && !(await evaluate('document.getElementById("ak-older").disabled')), 'Older enabled');
  check(await evaluate('document.getElementById("ak-newer").disabled'), 'Newer disabled on the newest page');
  await click('#ak-older');
  await waitFor(`!!${rowSel('CI deploy (prod)')}`, 'the second page');
  const second = await evaluate('Array.prototype.map.call(document.querySelectorAll("#ak-rows .sy-oauth-app-name"), function (e) { return e.textContent; })');
  check(JSON.stringify(second) === '["bulk 01","CI deploy (prod)"]', 'the older page holds the rest: ' + JSON.stringify(second));
  check(await evaluate('document.getElementById("ak-older").disabled'), 'Older disabled on the last page');
  await click('#ak-newer');
  await waitFor('!!' + rowSel('bulk 21'), 'back to the newest page');
  await fill('#ak-search', 'prod');
  await waitFor('document.querySelectorAll("#ak-rows tr[data-key-id]").length === 1', 'the search filter');
  check((await text('#ak-summary')).startsWith('1 key match'), 'one match');
  await shotBoth(browser, '03-list', '#ak-panel');

  // ---- delete ----
  log('delete');
  await clickIn(rowOf(K), 'Delete');
  await waitFor(`!!document.querySelector(${q(rowOf(K) + ' .sy-confirm')})`, 'the delete confirm step');
  await shot('04-delete-confirm', '#ak-table');
  await key('Escape', 'Escape', 27);
  check(!(await evaluate(`!!document.querySelector(${q(rowOf(K) + ' .sy-confirm')})`)), 'Escape keeps the key');
  check(await evaluate('document.activeElement.getAttribute("aria-label")') === 'Delete CI deploy (prod)', 'focus back on Delete');
  await clickIn(rowOf(K), 'Delete');
  await waitFor(`!!document.querySelector(${q(rowOf(K) + ' .sy-confirm')})`, 'the delete confirm step');
  await clickIn(rowOf(K), 'Delete key');
  await waitFor(`!document.querySelector(${q(rowOf(K))})`, 'the key gone');
  check(await useKey(rolled, 1) === 401, 'a deleted key gets 401');
  check(await activeId() === 'ak-summary', 'focus on the summary after deleting');
  await checkButtonNames(browser);

  // ---- the keyboard alone: create a key, close its dialog ----
  log('keyboard only');
  await fill('#ak-search', '');
  await evaluate('document.getElementById("ak-n-name").focus()');
  await send('Input.insertText', { text: 'Typed key' });
  const tab = async () => {
    await send('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Tab', code: 'Tab', windowsVirtualKeyCode: 9, nativeVirtualKeyCode: 9 });
    await send('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Tab', code: 'Tab', windowsVirtualKeyCode: 9, nativeVirtualKeyCode: 9 });
  };
  const tabTo = async (want, max) => {
    for (let i = 0; i < max; i++) {
      if (await evaluate(want)) return true;
      await tab();
    }
    return evaluate(want);
  };
  check(await tabTo('document.activeElement.type === "submit" && document.activeElement.textContent === "Create key"', 24), 'Tab reaches Create key (through the date\'s parts)');
  await key('Enter', 'Enter', 13);
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the dialog, from the keyboard');
  check(await evaluate('document.activeElement.textContent') === 'Copy', 'the dialog has the focus');
  await tab();
  check(await evaluate('document.activeElement.textContent') === 'I stored it — close', 'Tab moves within the dialog');
  await key('Enter', 'Enter', 13);
  await waitFor('!document.querySelector("dialog.sy-dialog")', 'closed from the keyboard');
  check(await activeId() === 'ak-summary', 'focus back on the list');
  await waitFor(`!!${rowSel('Typed key')}`, 'the typed key listed');

  // ---- a collaborator ----
  log('collaborator');
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#/api-keys`);
  await waitFor('!document.getElementById("ak-panel").hidden && !document.getElementById("ak-owners-only").hidden', 'the collaborator\'s view');
  check(!(await visible('#ak-body')) && !(await visible('#ak-table')) && !(await visible('#ak-form')), 'no keys, no form for a collaborator');
  check(await evaluate('Array.prototype.filter.call(document.querySelectorAll("#ak-panel button, #ak-panel input"), function (b) { return b.getClientRects().length; }).length') === 0,
    'no key controls for a collaborator');
  await shotBoth(browser, '05-collaborator', '#ak-panel');
}, () => { server.kill('SIGTERM'); }, 'no JS exceptions, no console errors, no failed requests, every check passed');
