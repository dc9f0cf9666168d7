// Drives the console's Members area (`/dashboard#/members`) in headless
// Chromium over the DevTools protocol (Node 20 with --experimental-websocket,
// no npm packages). It starts a fresh Switchyard in a fresh directory and
// adds users with `switchyard admin create-user`.
//
//   cargo build && node --experimental-websocket tests/browser/members.mjs \
//     target/debug/switchyard target/browser-shots [port]
//
// The walk: the owner alone (no Remove on their own row; giving up the last
// owner role is confirmed and refused with the server's reason); invite
// with a bad address (the error next to the field), then a good one: the
// link shown once in a dialog (copied, gone once closed); send again (a new
// link); revoke (Escape keeps, then confirmed); members added: make one an
// owner and a collaborator again; remove one (confirmed); screenshots at
// 1280 and 390 px; a collaborator sees the members without any control or
// the invitations. Exits 1 on any failed check, JS exception, console error,
// failed request, HTTP error answer or request to another origin.
//
// SY_ASSETS=playground serves the pages' files from that directory instead
// of the binary. The driver: ./lib.mjs.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { log, check, q, walk, checkButtonNames, startServer, startChrome, setupSignIn, signInCollaborator,
  sameOriginOnly, checkLabels, shotBoth, pageGql } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || 'target/browser-shots';
const PORT = Number(process.argv[4] || 18540);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9374);
mkdirSync(OUT, { recursive: true });

const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({ bin: BIN, port: PORT, prefix: 'sy-members-' });
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/members-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'members-', network: true, fillChange: false });
const { send, evaluate, waitFor, navigate, reload, click, fill, text, visible, activeId, buttonsIn, clickIn, cells, key, shot } = browser;
sameOriginOnly(browser, BASE);
await send('Browser.grantPermissions', { permissions: ['clipboardReadWrite', 'clipboardSanitizedWrite'], origin: BASE }).catch(() => {});

const ready = '!document.getElementById("mem-panel").hidden && document.getElementById("mem-summary").textContent.indexOf("Loading") === -1';
const invReady = 'document.getElementById("inv-summary").textContent.indexOf("Loading") === -1';
const memberRow = (email) => `(function(){ return Array.prototype.find.call(document.querySelectorAll('#mem-rows tr[data-member-id]'), function (r) {
  return r.textContent.indexOf(${q(email)}) >= 0; }) })()`;
const memberSel = async (email) => `#mem-rows tr[data-member-id="${await evaluate(memberRow(email) + '.dataset.memberId')}"]`;
const dialogValue = () => evaluate('document.querySelector("dialog.sy-dialog input").value');
const closeDialog = async () => {
  await evaluate(`Array.prototype.find.call(document.querySelectorAll('dialog.sy-dialog button'), function (b) { return b.textContent.indexOf('I stored it') === 0; }).click()`);
  await waitFor('!document.querySelector("dialog.sy-dialog")', 'the dialog closed');
};
const addUser = (email, name, wsId) => execFileSync(BIN, ['admin', 'create-user', '--email', email, '--name', name,
  '--workspace', wsId, '--listen', `127.0.0.1:${PORT}`], { cwd: SERVER_DIR, encoding: 'utf8' });

await walk(browser, async () => {
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');
  await navigate(`${BASE}/dashboard#/members`);
  await waitFor(ready + ' && ' + invReady, 'the Members area');
  check((await text('#mem-summary')).startsWith('1 member: 1 owner'), 'one owner: ' + await text('#mem-summary'));
  check((await text('#inv-summary')) === 'No pending invitations.', 'no invitations');
  await checkLabels(browser, '#mem-panel');
  const me = await memberSel('owner@localhost');
  check((await cells(me))[0].includes('(you)'), 'the owner\'s own row says (you)');
  check(JSON.stringify(await buttonsIn(me)) === '["Make collaborator"]', 'no Remove on one\'s own row');

  // ---- the last owner ----
  log('the last owner');
  await clickIn(me, 'Make collaborator');
  await waitFor(`!!document.querySelector(${q(me + ' .sy-confirm')})`, 'the confirm step');
  check(await activeId() === 'Cancel', 'focus on Cancel');
  await clickIn(me, 'Make me collaborator');
  await waitFor('!document.getElementById("mem-error").hidden', 'the refusal');
  log('  ' + await text('#mem-error'));
  check((await text('#mem-error')).toLowerCase().includes('owner'), 'the last owner keeps the role: ' + await text('#mem-error'));
  check((await cells(me))[1] === 'owner', 'still an owner');

  // ---- invitations ----
  log('invite');
  await fill('#inv-email', 'not an address');
  await click('#inv-form button[type="submit"]');
  await waitFor('!document.getElementById("inv-email-error").hidden', 'the email error');
  log('  email: ' + await text('#inv-email-error'));
  check(await activeId() === 'inv-email', 'the server\'s error next to the email, focused');
  await fill('#inv-email', 'dana@example.com');
  await evaluate(`document.getElementById('inv-role-1').click()`);   // Owner
  await click('#inv-form button[type="submit"]');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'the link dialog');
  const link = await dialogValue();
  check(link.startsWith(BASE + '/invite?token='), 'the invitation link shown once: ' + link.slice(0, 40) + '…');
  await shot('01-link-dialog');
  await evaluate(`document.querySelector('dialog.sy-dialog button').click()`);
  await waitFor('document.querySelector("dialog.sy-dialog .sy-hint").textContent !== ""', 'copied');
  check(await evaluate('navigator.clipboard.readText()') === link, 'Copy put the link on the clipboard');
  await closeDialog();
  check(await activeId() === 'inv-email', 'focus back on the email');
  check(!(await evaluate(`document.documentElement.outerHTML.indexOf(${q(link.split('=')[1])}) >= 0`)), 'the link is gone from the page');
  await waitFor(`document.querySelectorAll('#inv-rows tr[data-invitation-id]').length === 1`, 'the invitation listed');
  const inv = await cells('#inv-rows tr[data-invitation-id]');
  check(inv[0] === 'dana@example.com' && inv[1] === 'owner', 'email and role listed');
  await clickIn('#inv-rows tr[data-invitation-id]', 'Send again');
  await waitFor('!!document.querySelector("dialog.sy-dialog[open]")', 'a new link');
  const link2 = await dialogValue();
  check(link2 !== link && link2.startsWith(BASE + '/invite?token='), 'sending again makes a new link');
  await closeDialog();
  await reload();
  await waitFor(ready + ' && ' + invReady + ' && !!document.querySelector("#inv-rows tr[data-invitation-id]")', 'after a reload');
  check(!(await evaluate('!!document.querySelector("dialog")')), 'no link after a reload');
  check(await evaluate('document.querySelectorAll("#inv-rows tr[data-invitation-id]").length') === 1, 'one invitation (replaced)');
  await clickIn('#inv-rows tr[data-invitation-id]', 'Revoke');
  await waitFor('!!document.querySelector("#inv-rows .sy-confirm")', 'the revoke confirm step');
  await key('Escape', 'Escape', 27);
  check(!(await evaluate('!!document.querySelector("#inv-rows .sy-confirm")')), 'Escape keeps it');
  await clickIn('#inv-rows tr[data-invitation-id]', 'Revoke');
  await clickIn('#inv-rows tr[data-invitation-id]', 'Revoke now');
  await waitFor('document.getElementById("inv-summary").textContent === "No pending invitations."', 'revoked');

  // ---- roles and removal ----
  log('roles, remove');
  const wsId = (await pageGql(browser, '{ viewer { workspace { id } } }')).viewer.workspace.id;
  addUser('eve@example.com', 'Eve', wsId);
  await pageGql(browser, 'mutation { inviteMember(input: { email: "zoe@example.com" }) { invitation { id } } }');
  await reload();
  await waitFor(ready + ` && !!${memberRow('eve@example.com')}`, 'Eve listed');
  const eve = await memberSel('eve@example.com');
  check(JSON.stringify(await buttonsIn(eve)) === '["Make owner","Remove"]', 'owner controls on another member\'s row');
  await clickIn(eve, 'Make owner');
  await waitFor(`document.querySelector(${q(eve)}).children[1].textContent === 'owner'`, 'Eve is an owner');
  await clickIn(eve, 'Make collaborator');
  await waitFor(`document.querySelector(${q(eve)}).children[1].textContent === 'collaborator'`, 'Eve is a collaborator again');
  await shotBoth(browser, '02-members', '#mem-panel');
  await clickIn(eve, 'Remove');
  await waitFor(`!!document.querySelector(${q(eve + ' .sy-confirm')})`, 'the remove confirm step');
  await shot('03-remove-confirm', '#mem-table');
  await clickIn(eve, 'Remove member');
  await waitFor(`!${memberRow('eve@example.com')}`, 'Eve removed');
  check(await activeId() === 'mem-summary', 'focus on the summary');
  await checkButtonNames(browser);

  // ---- a collaborator ----
  log('collaborator');
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#/members`);
  await waitFor(ready + ` && !!${memberRow('cora@example.com')}`, 'the collaborator\'s view');
  check((await cells(await memberSel('cora@example.com')))[0].includes('(you)'), 'Cora sees herself');
  check(await evaluate('Array.prototype.filter.call(document.querySelectorAll("#mem-panel button, #mem-panel input"), function (b) { return b.getClientRects().length; }).length') === 0,
    'no member controls for a collaborator');
  check(!(await visible('#inv-section')) && !(await visible('#mem-actions-col')), 'no invitations, no actions column');
  await shotBoth(browser, '04-collaborator', '#mem-panel');
}, () => { server.kill('SIGTERM'); }, 'no JS exceptions, no console errors, no failed requests, every check passed');
