// Drives the dashboard's Actions panel in headless Chromium over the
// DevTools protocol (no npm packages: Node 20 with --experimental-websocket).
// It starts everything itself: a tiny REST API (node:http on 127.0.0.1:
// POST /api/media answers {"id":"media-N"} after 700 ms, or 422 when the
// caption is "fail"; POST /api/media_publish answers with the creation_id
// it was given), and a fresh Switchyard in a fresh directory with
// --allow-private-targets true so the server may call 127.0.0.1.
//
//   cargo build && node --experimental-websocket tests/browser/actions_panel.mjs \
//     target/debug/switchyard /work/shots/actions [port]
//
// The walk: sign in through the setup link; through GraphQL, connect the
// REST API (custom_rest) and create a two-step action (the seed's Instagram
// example: create_media's id feeds publish's creation_id) with a schedule
// and an event trigger, and a DELAY action; the panel lists both with their
// steps and triggers; Run with a bad JSON input (refused in the browser),
// an array, an input over 64 KiB (the server's user error next to the
// field), then a good one: the run goes QUEUED/RUNNING → SUCCEEDED live
// (no reload, no runs query), both steps shown with HTTP status, attempts,
// duration and response body; a failing run shows the provider's message;
// the DELAY run shows WAITING with its time and is cancelled; disable,
// enable, delete (confirmed, Escape keeps); a missing connection shows the
// action as paused and its run PAUSED; a collaborator runs an action but
// gets no owner controls. Exits 1 on any failed check, JS exception,
// console error, failed request or HTTP error answer; writes PNG
// screenshots to the out dir (actions-*.png). Needs /usr/bin/chromium.
// Not part of `cargo test`.
//
// SY_ASSETS=playground serves /dashboard and /playground/* from that
// directory instead of the binary (to try page changes without a rebuild).
// The driver and the checks: ./lib.mjs.
import { createServer } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { shots, log, check, sleep, q, walk, checkButtonNames, startServer, startChrome, setupSignIn, signInCollaborator } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || '/work/shots/actions';
const PORT = Number(process.argv[4] || 18490);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9358);
mkdirSync(OUT, { recursive: true });

// ---- the REST API the action calls ----
const KEY = 'key-' + Math.random().toString(36).slice(2);
const hits = [];       // "POST /api/media {body}"
let mediaNo = 0;
const provider = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', async () => {
    const json = (status, v) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(v)); };
    if (req.headers.authorization !== 'Bearer ' + KEY) return json(401, { error: 'bad key' });
    hits.push({ method: req.method, path: url.pathname, body: body ? JSON.parse(body) : null });
    if (req.method === 'POST' && url.pathname === '/api/media') {
      const b = JSON.parse(body || '{}');
      if (b.caption === 'fail') return json(422, { error: { message: 'Caption refused: it says fail' } });
      await sleep(700);   // long enough to see the run RUNNING
      return json(200, { id: 'media-' + (++mediaNo), image_url: b.image_url, caption: b.caption });
    }
    if (req.method === 'POST' && url.pathname === '/api/media_publish') {
      const b = JSON.parse(body || '{}');
      return json(200, { id: 'post-' + mediaNo, published: b.creation_id });
    }
    if (req.method === 'GET') return json(200, { ok: true, path: url.pathname });
    json(404, { error: 'not found' });
  });
});
await new Promise((r) => provider.listen(0, '127.0.0.1', r));
const P = `http://127.0.0.1:${provider.address().port}`;

// ---- a fresh Switchyard ----
const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({
  bin: BIN, port: PORT, prefix: 'sy-actions-', cleanup: () => provider.close() });

// ---- Chromium ----
const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/actions-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'actions-', network: true });
const { send, evaluate, waitFor, navigate, reload, click, fill, text, visible, activeId, buttonsIn, clickIn, cells, key, shot } = browser;
const gql = (query, variables) => evaluate(`window.Switchyard.gql(${q(query)}, ${q(variables || {})})`);

const panelReady = '!document.getElementById("actions-panel").hidden && ' +
  'document.getElementById("actions-summary").textContent.indexOf("Loading") === -1 && ' +
  'document.getElementById("runs-summary").textContent.indexOf("Loading") === -1';
const actionRow = (id) => `#actions-rows tr[data-action-id="${id}"]`;
const runRow = (id) => `#runs-rows tr[data-run-id="${id}"]`;
const newestRunId = () => evaluate('(function(){var r=document.querySelector("#runs-rows tr[data-run-id]"); return r ? r.dataset.runId : null})()');
const runStatus = (id) => evaluate(`(function(){var p=document.querySelector(${q(runRow(id) + ' .sy-run-status')}); return p ? p.dataset.status : null})()`);
// Records, in the page, every status the newest run's pill shows (every 20 ms).
const RECORDER = `(function(){ window.__seen = {}; setInterval(function () {
  Array.prototype.forEach.call(document.querySelectorAll('#runs-rows tr[data-run-id]'), function (tr) {
    var p = tr.querySelector('.sy-run-state .sy-run-status'); if (!p) return;
    var l = window.__seen[tr.dataset.runId] = window.__seen[tr.dataset.runId] || [];
    if (l[l.length - 1] !== p.dataset.status) l.push(p.dataset.status);
  }); }, 20);
  window.__runQueries = 0; var f = window.fetch;
  window.fetch = function (u, o) { if (o && typeof o.body === 'string' && o.body.indexOf('actionRuns(') >= 0) window.__runQueries++; return f.apply(this, arguments); };
  return true })()`;
const stepsOf = (runId) => evaluate(`Array.prototype.map.call(document.querySelectorAll(${q('#run-steps-' + runId + ' .sy-run-step')}), function (li) {
  var pre = li.querySelector('pre');
  return { key: li.dataset.key, status: li.dataset.status, head: li.querySelector('.sy-run-step-head').textContent.replace(/\\s+/g, ' ').trim(),
    request: (li.querySelector('.sy-run-request') || {}).textContent || null,
    error: (li.querySelector('.sy-run-step-error') || {}).textContent || null,
    body: pre ? pre.textContent : null, pre: !!pre }; })`);

const CREATE_ACTION = 'mutation($i: CreateActionInput!) { createAction(input: $i) { action { id name } userErrors { field message } } }';

await walk(browser, async () => {
  // ---- 1. the owner sets a password and lands signed in ----
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');

  await navigate(`${BASE}/dashboard#actions-panel`);
  await waitFor(panelReady, 'the Actions panel');
  check((await text('#actions-summary')).startsWith('No actions yet'), 'empty list says so');
  check((await text('#runs-summary')).startsWith('No runs yet'), 'no runs yet');
  await shot('01-empty', '#actions-panel');

  // ---- 2. a REST connection and two actions, through GraphQL ----
  log('connection and actions through GraphQL');
  const conn = await gql('mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } userErrors { message } } }',
    { i: { provider: 'custom_rest', apiKey: KEY, baseUrl: `${P}/api` } });
  check(!!conn.createConnection.connection, 'custom_rest connected: ' + JSON.stringify(conn.createConnection.userErrors));
  const post = await gql(CREATE_ACTION, { i: {
    name: 'Post a photo',
    description: 'Creates a media item, then publishes it',
    steps: [
      { key: 'create_media', kind: 'API_EXECUTE', provider: 'custom_rest', method: 'POST', path: '/media',
        body: { image_url: '{{ input.image_url }}', caption: '{{ input.caption }}' } },
      { key: 'publish', kind: 'API_EXECUTE', provider: 'custom_rest', method: 'POST', path: '/media_publish',
        body: { creation_id: '{{ steps.create_media.response.body.id }}' } },
    ],
    triggers: [{ cron: '0 9 * * 1-5', timezone: 'Europe/Paris' }, { eventType: 'record.created' }],
  } });
  check(post.createAction.userErrors.length === 0, 'two-step action created ' + JSON.stringify(post.createAction.userErrors));
  const A = post.createAction.action.id;
  const wait = await gql(CREATE_ACTION, { i: {
    name: 'Wait then ping',
    steps: [
      { key: 'pause', kind: 'DELAY', seconds: 600 },
      { key: 'ping', kind: 'API_EXECUTE', provider: 'custom_rest', method: 'GET', path: '/ping' },
    ],
  } });
  check(wait.createAction.userErrors.length === 0, 'delay action created');
  const W = wait.createAction.action.id;

  await reload();
  await waitFor(panelReady + ` && !!document.querySelector(${q(actionRow(A))})`, 'the actions listed');
  await evaluate(RECORDER);
  check(await waitFor('document.getElementById("actions-status").dataset.state === "live"', 'the live pill'), 'live over the actionRuns subscription');
  log('  summary: ' + await text('#actions-summary'));
  const row = await cells(actionRow(A));
  log('  row: ' + JSON.stringify(row));
  check(row[0].startsWith('Post a photo') && row[0].includes('Creates a media item'), 'name and description');
  check(row[1] === 'enabled', 'enabled');
  check(row[2] === 'API_EXECUTE custom_rest POST /media → API_EXECUTE custom_rest POST /media_publish', 'steps summary: ' + row[2]);
  check(/At 09:00 AM, Monday through Friday|09:00/i.test(row[3]) && row[3].includes('Europe/Paris') && row[3].includes('next'),
    'schedule in words with its time zone and next tick: ' + row[3]);
  check(row[3].includes('On record.created'), 'event trigger pattern');
  check(row[4] === 'Never', 'never run');
  const wrow = await cells(actionRow(W));
  check(wrow[2] === 'DELAY 600 s → API_EXECUTE custom_rest GET /ping' && wrow[3] === 'By hand only', 'delay action: ' + JSON.stringify(wrow));
  check(JSON.stringify(await buttonsIn(actionRow(A))) === '["Run","Disable","Delete"]', 'owner sees Run, Disable, Delete');
  const unlabelled = await evaluate(`Array.prototype.filter.call(document.querySelectorAll('#actions-panel input, #actions-panel select, #actions-panel textarea'), function (i) {
    return !(i.labels && i.labels.length) && !i.getAttribute('aria-label'); }).map(function (i) { return i.id || i.name; })`);
  check(unlabelled.length === 0, 'every form control has a label ' + JSON.stringify(unlabelled));
  check(await evaluate('!!document.querySelector("#actions-table caption") && !!document.querySelector("#runs-table caption")'), 'tables have captions');
  check(await evaluate(`(function(){var w=document.querySelector('#actions-table').parentNode; return w.scrollWidth <= w.clientWidth})()`), 'the actions table fits the panel at 1280 px');
  await shot('02-list', '#actions-panel');

  // ---- 3. Run: the input is checked in the browser, then by the server ----
  log('run form');
  await clickIn(actionRow(A), 'Run');
  await waitFor(`!document.getElementById('action-run-form-${A}').hidden`, 'the Run form');
  check(await activeId() === `run-${A}-input`, 'focus on the input');
  check(await evaluate(`document.getElementById('run-${A}-input').value.indexOf('"caption"') > 0`), 'input prefilled with the names the templates use');
  const hint = await text(`#run-${A}-input-hint`);
  check(hint.includes('input.image_url') && hint.includes('input.caption'), 'hint names input.image_url and input.caption: ' + hint);
  const before = hits.length;
  await fill(`#run-${A}-input`, '{"caption": "Hello",');
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`!document.getElementById('run-${A}-input-error').hidden`, 'the JSON error');
  log('  error: ' + await text(`#run-${A}-input-error`));
  check((await text(`#run-${A}-input-error`)).startsWith('Not valid JSON'), 'bad JSON refused next to the field');
  check(await evaluate(`document.getElementById('run-${A}-input').getAttribute('aria-invalid') === 'true'`), 'aria-invalid on the field');
  check(await activeId() === `run-${A}-input`, 'focus stays on the field');
  await fill(`#run-${A}-input`, '[1, 2]');
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`document.getElementById('run-${A}-input-error').textContent.indexOf('JSON object') >= 0`, 'the object error');
  check((await text(`#run-${A}-input-error`)).includes('not an array'), 'an array is refused: ' + await text(`#run-${A}-input-error`));
  await shot('03-input-error', `#action-run-form-${A}`);
  await fill(`#run-${A}-input`, JSON.stringify({ caption: 'x'.repeat(70 * 1024) }));
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`document.getElementById('run-${A}-input-error').textContent.indexOf('64 KiB') >= 0`, 'the server\'s user error');
  check((await text(`#run-${A}-input-error`)).includes('At most 64 KiB'), 'server userError next to the field: ' + await text(`#run-${A}-input-error`));
  check(await activeId() === `run-${A}-input`, 'focus on the field at fault');
  check(hits.length === before, 'nothing reached the provider');
  check(await evaluate('document.querySelectorAll("#runs-rows tr[data-run-id]").length') === 0, 'no run started');
  await shot('04-server-error', `#action-run-form-${A}`);

  // ---- 4. a good run, watched live ----
  log('run and watch');
  await fill(`#run-${A}-input`, JSON.stringify({ image_url: 'https://example.com/cat.jpg', caption: 'Hello from the panel' }, null, 2));
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`document.getElementById('run-${A}-input-error').hidden && !!document.querySelector('#runs-rows tr[data-run-id]')`, 'the run in the timeline');
  const R1 = await newestRunId();
  log('  run ' + R1 + ': ' + await text(`#action-run-form-${A} .sy-run-result`));
  check((await text(`#action-run-form-${A} .sy-run-result`)).startsWith('Started'), 'the form says it started');
  check(await visible(`#run-steps-${R1}`), 'the new run is opened');
  await waitFor(`(function(){var p=document.querySelector(${q(runRow(R1) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'RUNNING'})()`, 'RUNNING', 8000);
  check(await evaluate(`(function(){var li=document.querySelector('#run-steps-${R1} .sy-run-step'); return li && li.dataset.status === 'RUNNING'})()`),
    'the step under way shows running');
  await shot('05-running', '#runs-section');
  await waitFor(`(function(){var p=document.querySelector(${q(runRow(R1) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'SUCCEEDED'})()`, 'SUCCEEDED', 15000);
  const seen1 = await evaluate(`window.__seen[${q(R1)}]`);
  log('  statuses seen: ' + JSON.stringify(seen1));
  check(seen1.includes('RUNNING') && seen1[seen1.length - 1] === 'SUCCEEDED', 'went RUNNING → SUCCEEDED live');
  check(await evaluate('window.__runQueries') === 0, 'no runs query: updated through the subscription only');
  check(await evaluate('typeof window.__seen === "object"'), 'the page was not reloaded');
  const r1 = await cells(runRow(R1));
  log('  run row: ' + JSON.stringify(r1));
  check((await text(`#run-steps-${R1} .sy-run-meta`)).includes(' · by hand · by you · '), 'started by you: ' + await text(`#run-steps-${R1} .sy-run-meta`));
  check(r1[1] === 'Post a photo' && r1[2] === 'by hand' && r1[3] === 'succeeded' && r1[4] === '2 / 2', 'run row: action, trigger, status, steps 2 / 2');
  check(/(ms| s)$/.test(r1[5]), 'run duration: ' + r1[5]);
  await waitFor(`document.querySelectorAll('#run-steps-${R1} .sy-run-step[data-status="SUCCEEDED"]').length === 2`, 'both steps shown succeeded');
  const steps1 = await stepsOf(R1);
  log('  steps: ' + JSON.stringify(steps1.map((s) => ({ ...s, body: s.body && s.body.replace(/\s+/g, ' ') }))));
  check(steps1.length === 2 && steps1[0].key === 'create_media' && steps1[1].key === 'publish', 'both steps, in order');
  check(steps1.every((s) => s.status === 'SUCCEEDED' && /^\d\. \w+ API_EXECUTE succeeded 1 attempt · HTTP 200 · \d+(\.\d+)? (ms|s)$/.test(s.head)), 'status, attempts, HTTP 200, duration per step');
  check(steps1[0].request === 'POST custom_rest /media', 'request line: ' + steps1[0].request);
  check(steps1[0].pre && steps1[0].body.includes('"id": "media-1"'), 'step 1 response body in a <pre>');
  check(steps1[1].body.includes('"published": "media-1"'), 'step 2 got step 1\'s id as creation_id');
  const provCalls = hits.filter((h) => h.method === 'POST');
  check(provCalls.length === 2 && provCalls[1].body.creation_id === 'media-1' && provCalls[0].body.caption === 'Hello from the panel',
    'the provider saw both calls in order with the input');
  check((await cells(actionRow(A)))[4].startsWith('succeeded'), 'the action\'s last run: succeeded');
  check((await text('#runs-live')).length > 0, 'run changes read out: ' + await text('#runs-live'));
  await shot('06-succeeded', '#runs-section');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 2000, deviceScaleFactor: 1, mobile: false });
  await sleep(200);
  await shot('07-panel-after-run', '#actions-panel');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });

  // ---- 5. a failing run shows the provider's message ----
  log('failing run');
  await fill(`#run-${A}-input`, JSON.stringify({ image_url: 'https://example.com/cat.jpg', caption: 'fail' }));
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`document.querySelectorAll('#runs-rows tr[data-run-id]').length === 2`, 'the second run');
  const R2 = await newestRunId();
  await waitFor(`(function(){var p=document.querySelector(${q(runRow(R2) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'FAILED'})()`, 'FAILED', 15000);
  const r2 = await cells(runRow(R2));
  log('  run row: ' + JSON.stringify(r2));
  check(r2[3] === 'failed' && r2[4] === '0 / 2' && r2[6].includes('Caption refused'), 'failed with the provider\'s message in the row');
  check(await evaluate(`document.querySelector(${q(runRow(R2))}).classList.contains('sy-row-warn')`), 'the failed row stands out');
  check(!(await visible(`#run-steps-${R1}`)) && await visible(`#run-steps-${R2}`), 'the new run is the opened one');
  const steps2 = await stepsOf(R2);
  log('  steps: ' + JSON.stringify(steps2));
  check(steps2[0].status === 'FAILED' && steps2[0].head.includes('HTTP 422') && (steps2[0].error || '').includes('Caption refused'), 'step 1 failed: HTTP 422 and its error');
  check(steps2[1].status === 'PENDING' && steps2[1].head.includes('not run'), 'step 2 not run');
  check(await evaluate(`!!document.querySelector('#run-steps-${R2} .sy-run-error-line')`), 'the run\'s error above its steps');
  await shot('08-failed', '#runs-section');

  // ---- 6. open the earlier run with the keyboard; close with its button ----
  log('keyboard');
  await evaluate(`document.querySelector(${q(runRow(R1))}).querySelector('button').focus()`);
  await key('Enter', 'Enter', 13);
  await waitFor(`!document.getElementById('run-steps-${R1}').hidden`, 'run 1 opened by Enter');
  check(await activeId() === 'run-steps-title-' + R1, 'focus on the run\'s heading');
  check(await evaluate(`document.querySelector(${q(runRow(R1) + ' button')}).getAttribute('aria-expanded')`) === 'true', 'aria-expanded on Steps');
  await evaluate(`document.querySelector(${q(runRow(R1))}).querySelector('button').focus()`);
  await key(' ', 'Space', 32);
  await waitFor(`document.getElementById('run-steps-${R1}').hidden`, 'run 1 closed by Space');
  check(await activeId() === 'Steps', 'focus back on Steps');

  // ---- 7. a waiting run: WAITING with its time, then Cancel ----
  log('waiting and cancel');
  await clickIn(actionRow(W), 'Run');
  await waitFor(`!document.getElementById('action-run-form-${W}').hidden`, 'the delay action\'s Run form');
  check(await evaluate(`document.getElementById('action-run-form-${A}').hidden`), 'one Run form at a time');
  check(await evaluate(`document.getElementById('run-${W}-input').value`) === '{}', 'no input names: {}');
  await click(`#action-run-form-${W} button[type="submit"]`);
  await waitFor(`document.querySelectorAll('#runs-rows tr[data-run-id]').length === 3`, 'the third run');
  const R3 = await newestRunId();
  await waitFor(`(function(){var p=document.querySelector(${q(runRow(R3) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'WAITING'})()`, 'WAITING', 10000);
  const r3 = await cells(runRow(R3));
  log('  run row: ' + JSON.stringify(r3));
  check(/^waiting until \d\d:\d\d:\d\d$/.test(r3[3]), 'WAITING with the time it goes on');
  check(JSON.stringify(await buttonsIn(runRow(R3))) === '["Steps","Cancel"]', 'Cancel on a run that has not ended');
  check(JSON.stringify(await buttonsIn(runRow(R1))) === '["Steps"]', 'no Cancel on an ended run');
  await shot('09-waiting', '#runs-section');
  await clickIn(runRow(R3), 'Cancel');
  await waitFor(`!!document.querySelector(${q(runRow(R3) + ' .sy-confirm')})`, 'the confirm step');
  check(await activeId() === 'Keep running', 'confirm step focuses Keep running');
  await key('Escape', 'Escape', 27);
  check(!(await evaluate(`!!document.querySelector(${q(runRow(R3) + ' .sy-confirm')})`)), 'Escape keeps it running');
  await clickIn(runRow(R3), 'Cancel');
  await clickIn(runRow(R3), 'Cancel run');
  await waitFor(`(function(){var p=document.querySelector(${q(runRow(R3) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'CANCELLED'})()`, 'CANCELLED', 10000);
  check(JSON.stringify(await buttonsIn(runRow(R3))) === '["Steps"]', 'Cancel gone once cancelled');
  check(await activeId() === 'Steps', 'focus on Steps after cancelling');
  await sleep(300);
  check(hits.filter((h) => h.path === '/api/ping').length === 0, 'nothing ran after the cancel');

  // ---- 8. the runs of one action ----
  log('filter');
  await fill('#runs-action', W);
  await waitFor(`document.querySelectorAll('#runs-rows tr[data-run-id]').length === 1`, 'only the delay action\'s run');
  check(await evaluate(`!!document.querySelector(${q(runRow(R3))})`), 'the filter shows that action\'s runs: ' + await text('#runs-summary'));
  // Running another action from there shows every run again, the new one open.
  await clickIn(actionRow(A), 'Run');
  await waitFor(`!document.getElementById('action-run-form-${A}').hidden`, 'the Run form');
  await fill(`#run-${A}-input`, '{"image_url": "https://example.com/b.jpg", "caption": "filtered"}');
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`document.getElementById('runs-action').value === '' && document.querySelectorAll('#runs-rows tr[data-run-id]').length === 4`, 'all runs again');
  const RF = await newestRunId();
  check(await visible(`#run-steps-${RF}`) && (await cells(runRow(RF)))[1] === 'Post a photo', 'the filter was cleared and the new run opened');
  await waitFor(`(function(){var p=document.querySelector(${q(runRow(RF) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'SUCCEEDED'})()`, 'that run SUCCEEDED', 15000);

  // ---- 9. disable, enable, delete ----
  log('disable, enable, delete');
  await clickIn(actionRow(A), 'Disable');
  await waitFor(`document.querySelector(${q(actionRow(A) + ' .sy-action-enabled')}).textContent === 'disabled'`, 'disabled');
  check((await cells(actionRow(A)))[3].includes('(inactive)'), 'triggers inactive while disabled');
  check(await activeId() === 'Enable', 'focus on Enable');
  if (await evaluate(`document.getElementById('action-run-form-${A}').hidden`)) await clickIn(actionRow(A), 'Run');
  await waitFor(`!document.getElementById('action-run-form-${A}').hidden`, 'the Run form');
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`!document.querySelector('#action-run-form-${A} .sy-error').hidden`, 'the disabled error');
  log('  error: ' + await text(`#action-run-form-${A} .sy-error`));
  check((await text(`#action-run-form-${A} .sy-error`)).includes('disabled'), 'a disabled action does not run: server message shown');
  await shot('10-disabled', actionRow(A));
  await clickIn(actionRow(A), 'Enable');
  await waitFor(`document.querySelector(${q(actionRow(A) + ' .sy-action-enabled')}).textContent === 'enabled'`, 'enabled again');
  await clickIn(actionRow(W), 'Delete');
  await waitFor(`!!document.querySelector(${q(actionRow(W) + ' .sy-confirm')})`, 'the delete confirm step');
  check(await activeId() === 'Cancel', 'confirm step focuses Cancel');
  await shot('11-delete-confirm', '#actions-table');
  await key('Escape', 'Escape', 27);
  check(!(await evaluate(`!!document.querySelector(${q(actionRow(W) + ' .sy-confirm')})`)), 'Escape cancels the delete');
  await clickIn(actionRow(W), 'Delete');
  await clickIn(actionRow(W), 'Delete now');
  await waitFor(`!document.querySelector(${q(actionRow(W))})`, 'the delay action gone');
  check(await activeId() === 'actions-summary', 'focus on the summary after deleting');
  check(!(await evaluate(`!!document.querySelector(${q(runRow(R3))})`)), 'its runs went with it');

  // ---- 10. a missing connection: the action is paused, its run PAUSED ----
  log('paused');
  await gql('mutation($i: DeleteConnectionInput!) { deleteConnection(input: $i) { deletedId } }', { i: { id: conn.createConnection.connection.id } });
  await reload();
  await waitFor(panelReady + ` && !!document.querySelector(${q(actionRow(A))})`, 'the panel again');
  const pausedText = await text(actionRow(A) + ' .sy-action-paused');
  log('  paused: ' + pausedText);
  check(!!pausedText && pausedText.startsWith('Paused:'), 'pausedReason shown as a warning');
  check(await evaluate(`document.querySelector(${q(actionRow(A))}).classList.contains('sy-row-warn')`), 'the paused row stands out');
  await clickIn(actionRow(A), 'Run');
  await waitFor(`!document.getElementById('action-run-form-${A}').hidden`, 'the Run form');
  await fill(`#run-${A}-input`, '{"image_url": "https://example.com/dog.jpg", "caption": "later"}');
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`document.querySelectorAll('#runs-rows tr[data-run-id]').length === 4`, 'the paused run');
  const R4 = await newestRunId();
  await waitFor(`(function(){var p=document.querySelector(${q(runRow(R4) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'PAUSED'})()`, 'PAUSED', 10000);
  const r4 = await cells(runRow(R4));
  log('  run row: ' + JSON.stringify(r4));
  check(r4[3] === 'paused' && r4[6].length > 1, 'PAUSED with its reason');
  check(JSON.stringify(await buttonsIn(runRow(R4))) === '["Steps","Cancel"]', 'a paused run can be cancelled');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1600, deviceScaleFactor: 1, mobile: false });
  await sleep(200);
  await shot('12-paused', '#actions-panel');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  // Connect again: the run goes on.
  await gql('mutation($i: CreateConnectionInput!) { createConnection(input: $i) { connection { id } } }',
    { i: { provider: 'custom_rest', apiKey: KEY, baseUrl: `${P}/api` } });
  const resumed = await waitFor(`(function(){var p=document.querySelector(${q(runRow(R4) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'SUCCEEDED'})()`, 'the paused run resumed', 15000);
  log('  after connecting again: ' + await runStatus(R4));
  if (resumed) {
    await waitFor(`!document.querySelector(${q(actionRow(A) + ' .sy-action-paused')})`, 'the paused warning gone (live)', 8000);
  }

  // ---- 11. a collaborator: Run, no owner controls ----
  log('collaborator');
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#actions-panel`);
  await waitFor(panelReady + ` && !!document.querySelector(${q(actionRow(A))})`, 'the collaborator\'s panel');
  check((await text('#sy-who')).includes('cora@example.com'), 'signed in as the collaborator');
  check(JSON.stringify(await buttonsIn(actionRow(A))) === '["Run"]', 'collaborator: Run only');
  await clickIn(actionRow(A), 'Run');
  await waitFor(`!document.getElementById('action-run-form-${A}').hidden`, 'the Run form');
  await fill(`#run-${A}-input`, '{"image_url": "https://example.com/owl.jpg", "caption": "from Cora"}');
  const n = await evaluate('document.querySelectorAll("#runs-rows tr[data-run-id]").length');
  await click(`#action-run-form-${A} button[type="submit"]`);
  await waitFor(`document.querySelectorAll('#runs-rows tr[data-run-id]').length === ${n + 1}`, 'the collaborator\'s run');
  const R5 = await newestRunId();
  await waitFor(`(function(){var p=document.querySelector(${q(runRow(R5) + ' .sy-run-state .sy-run-status')}); return p && p.dataset.status === 'SUCCEEDED'})()`, 'the collaborator\'s run SUCCEEDED', 15000);
  check(await runStatus(R5) === 'SUCCEEDED', 'a collaborator runs an action');
  await shot('13-collaborator', '#actions-panel');

  // Next to the Connections panel, for the look.
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 2400, deviceScaleFactor: 1, mobile: false });
  await sleep(300);
  {
    const r = await evaluate(`(function(){var a=document.getElementById('connections-panel').getBoundingClientRect(),
      b=document.getElementById('actions-panel').getBoundingClientRect();
      return {x:a.left+window.scrollX, y:a.top+window.scrollY, w:a.width, h:b.bottom-a.top}})()`);
    const img = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true,
      clip: { x: Math.max(0, r.x - 8), y: Math.max(0, r.y - 8), width: r.w + 16, height: r.h + 16, scale: 1 } });
    writeFileSync(`${OUT}/actions-15-with-connections.png`, Buffer.from(img.data, 'base64'));
    shots.push(`${OUT}/actions-15-with-connections.png`);
  }

  // ---- 12. a narrow screen and accessible names ----
  await send('Emulation.setDeviceMetricsOverride', { width: 420, height: 900, deviceScaleFactor: 1, mobile: true });
  await sleep(300);
  check(await evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'), 'no page-wide sideways scroll at 420 px');
  await shot('14-narrow', '#actions-panel');
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  await checkButtonNames(browser);
}, () => { server.kill('SIGTERM'); provider.close(); }, 'no JS exceptions, no console errors, no failed requests, every check passed');
