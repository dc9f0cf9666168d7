// Shared by the browser scripts (actions_panel, connections_panel,
// oauth_panel, pages): the checks and their report, a fresh Switchyard
// signed in through its setup link, and headless Chromium driven over the
// DevTools protocol (no npm packages: Node 20 with --experimental-websocket).
//
// SY_ASSETS=playground serves /dashboard, /sandbox, /console and
// /playground/*.js|css from that directory instead of the binary (to try
// page changes without a rebuild), in every script.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ASSETS = process.env.SY_ASSETS ? resolve(process.env.SY_ASSETS) : null;

// ---- checks ----
export const problems = [];   // JS exceptions, console errors, failed requests, failed checks
export const shots = [];
export const log = (...a) => console.log(...a);
export function check(cond, what) {
  if (cond) log('  ok   ' + what);
  else { log('  FAIL ' + what); problems.push('check failed: ' + what); }
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const q = (s) => JSON.stringify(s);

// The screenshots and problems, then exits (1 on any problem).
export function report(done) {
  log('\nscreenshots:\n' + shots.join('\n'));
  if (problems.length) {
    log('\nPROBLEMS:\n' + problems.join('\n'));
    process.exit(1);
  }
  log('\n' + done);
  process.exit(0);
}

// Runs a script's walk with the browser `b`: an error thrown is a problem
// (with a screenshot, zz-failure); then closes the browser, runs `cleanup`
// and reports, `done` saying what passed.
export async function walk(b, body, cleanup, done) {
  try {
    await body();
  } catch (e) {
    problems.push('script error: ' + e.stack);
    await b.shot('zz-failure').catch(() => {});
  } finally {
    await b.close();
    if (cleanup) cleanup();
  }
  report(done);
}

// Every button on the page has an accessible name.
export async function checkButtonNames(b) {
  const ax = await b.send('Accessibility.getFullAXTree');
  const nameless = ax.nodes.filter((nd) => nd.role && nd.role.value === 'button' && !nd.ignored && !(nd.name && nd.name.value));
  check(nameless.length === 0, 'every button has an accessible name (' + nameless.length + ' without)');
}

// ---- a fresh Switchyard in a fresh directory ----
// The `serve` command line of the scripts' servers (`args`: more flags).
export function serveArgs(port, args = []) {
  return ['serve', '--listen', `127.0.0.1:${port}`, '--allow-private-targets', 'true', ...args];
}

// Starts `switchyard serve` in `dir` (its database and key stay there, so a
// restart finds the same sessions); the child process.
export function spawnServer(bin, dir, port, args = []) {
  return spawn(bin, serveArgs(port, args),
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SWITCHYARD_LOG: 'warn' } });
}

// Resolves with { server, dir, setupLink }; `cleanup` runs when no setup link
// comes; `args`: more `serve` flags.
export async function startServer({ bin, port, prefix, cleanup, args = [] }) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const server = spawnServer(bin, dir, port, args);
  let out = '';
  server.stdout.on('data', (d) => { out += d; });
  server.stderr.on('data', (d) => { out += d; });
  let setupLink = null;
  for (let i = 0; i < 300 && !setupLink; i++) {
    const m = out.match(/http\S+\/setup\?token=[\w.-]+/);
    if (m) setupLink = m[0];
    else await sleep(100);
  }
  if (!setupLink) { log(out); server.kill(); if (cleanup) cleanup(); throw new Error('no setup link from the server'); }
  return { server, dir, setupLink };
}

// ---- Chromium over the DevTools protocol ----
// opts: cdpPort, profile (user-data-dir), base (the server, for SY_ASSETS),
// out and prefix (screenshot files: `${out}/${prefix}${name}.png`),
// waitMs (waitFor's default), fillChange (fill() also sends `change`),
// fullPage (shot() without a selector takes the whole page, not the
// viewport), network (watch requests: an HTTP error answer or a failed
// request is a problem), logErrors (Log.enable: a logged error is a
// problem), emulate (focus emulation and a 1280×900 viewport), args (more
// Chromium flags), windowSize.
export async function startChrome(opts) {
  const o = { waitMs: 10000, fillChange: true, fullPage: false, network: false, logErrors: true, emulate: true,
    windowSize: '1280,900', args: [], prefix: '', ...opts };
  const chrome = spawn('/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', `--remote-debugging-port=${o.cdpPort}`,
    `--user-data-dir=${o.profile}`, `--window-size=${o.windowSize}`, ...o.args,
    // Pages fulfilled from disk have no address: let them reach 127.0.0.1.
    ...(ASSETS ? ['--disable-features=LocalNetworkAccessChecks'] : []), 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let targets;
  for (let i = 0; i < 100; i++) {
    try { targets = await (await fetch(`http://127.0.0.1:${o.cdpPort}/json/list`)).json(); if (targets.length) break; }
    catch { await sleep(200); }
  }
  const page = targets.find((t) => t.type === 'page');
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((r) => ws.addEventListener('open', r));
  let nextId = 1;
  const pending = new Map();
  const listeners = [];
  ws.addEventListener('message', (ev) => {
    const m = JSON.parse(ev.data);
    if (m.id && pending.has(m.id)) {
      const { resolve: ok, reject } = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) reject(new Error(m.error.message)); else ok(m.result);
    } else if (m.method) {
      listeners.forEach((l) => l(m));
    }
  });
  const send = (method, params = {}) => new Promise((ok, reject) => {
    const id = nextId++;
    pending.set(id, { resolve: ok, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
  const requests = new Map();   // requestId → url
  const visited = [];           // the main frame's URLs
  listeners.push((m) => {
    if (m.method === 'Runtime.exceptionThrown') {
      const d = m.params.exceptionDetails;
      problems.push('JS exception: ' + (d.exception && d.exception.description || d.text) + ' at ' + d.url + ':' + d.lineNumber);
    }
    if (m.method === 'Runtime.consoleAPICalled' && m.params.type === 'error') {
      problems.push('console.error: ' + m.params.args.map((a) => a.value || a.description).join(' '));
    }
    if (m.method === 'Log.entryAdded' && m.params.entry.level === 'error') {
      problems.push('log error: ' + m.params.entry.text + ' ' + (m.params.entry.url || ''));
    }
    if (m.method === 'Page.frameNavigated' && !m.params.frame.parentId) visited.push(m.params.frame.url);
    if (o.network) {
      if (m.method === 'Network.requestWillBeSent') requests.set(m.params.requestId, m.params.request.url);
      if (m.method === 'Network.responseReceived' && m.params.response.status >= 400) {
        problems.push('HTTP ' + m.params.response.status + ' for ' + m.params.response.url);
      }
      if (m.method === 'Network.loadingFailed' && !m.params.canceled) {
        problems.push('request failed: ' + (requests.get(m.params.requestId) || m.params.requestId) + ' ' + m.params.errorText);
      }
    }
    if (m.method === 'Fetch.requestPaused') {
      // SY_ASSETS: the page's own files from disk.
      const u = new URL(m.params.request.url);
      const file = /^\/(dashboard|sandbox|console)$/.test(u.pathname) ? u.pathname.slice(1) + '.html'
        : u.pathname.replace(/^\/playground\//, '');
      const type = file.endsWith('.css') ? 'text/css' : file.endsWith('.js') ? 'text/javascript' : 'text/html';
      let bodyB64 = null;
      try { bodyB64 = readFileSync(join(ASSETS, file)).toString('base64'); } catch { /* not on disk */ }
      if (bodyB64 === null) send('Fetch.continueRequest', { requestId: m.params.requestId }).catch(() => {});
      else send('Fetch.fulfillRequest', { requestId: m.params.requestId, responseCode: 200,
        responseHeaders: [{ name: 'Content-Type', value: type }], body: bodyB64 }).catch(() => {});
    }
  });
  await send('Page.enable');
  await send('Runtime.enable');
  if (o.logErrors) await send('Log.enable');
  if (o.network) await send('Network.enable');
  if (ASSETS) {
    log('serving /dashboard, /sandbox, /console and /playground/*.js|css from ' + ASSETS);
    await send('Fetch.enable', { patterns: [
      { urlPattern: `${o.base}/dashboard*` }, { urlPattern: `${o.base}/sandbox*` }, { urlPattern: `${o.base}/console*` },
      { urlPattern: `${o.base}/playground/*.js` }, { urlPattern: `${o.base}/playground/*.css` },
    ] });
  }
  if (o.emulate) {
    await send('Emulation.setFocusEmulationEnabled', { enabled: true });
    await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  }

  async function evaluate(expr) {
    const r = await send('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error('evaluate failed: ' + expr + ': ' + JSON.stringify(r.exceptionDetails.exception || r.exceptionDetails.text));
    return r.result.value;
  }
  async function waitFor(expr, what, ms = o.waitMs) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      try { if (await evaluate(expr)) return true; } catch { /* page loading */ }
      await sleep(100);
    }
    check(false, 'timed out waiting for ' + what);
    return false;
  }
  async function navigate(url) {
    await send('Page.navigate', { url });
    await sleep(300);
    await waitFor('document.readyState === "complete"', 'load of ' + url);
  }
  // The same URL again (a hash-only navigation would not load the page).
  async function reload() {
    await send('Page.reload', { ignoreCache: true });
    await sleep(300);
    await waitFor('document.readyState === "complete"', 'reload');
  }
  const changeEvent = o.fillChange ? ` e.dispatchEvent(new Event('change',{bubbles:true}));` : '';
  const click = (sel) => evaluate(`(function(){var e=document.querySelector(${q(sel)}); if(!e) throw new Error('no ' + ${q(sel)}); e.click(); return true})()`);
  const fill = (sel, value) => evaluate(`(function(){var e=document.querySelector(${q(sel)}); e.value=${q(value)}; e.dispatchEvent(new Event('input',{bubbles:true}));${changeEvent} return true})()`);
  const text = (sel) => evaluate(`(function(){var e=document.querySelector(${q(sel)}); return e ? e.textContent.replace(/\\s+/g,' ').trim() : null})()`);
  const visible = (sel) => evaluate(`(function(){var e=document.querySelector(${q(sel)}); return !!e && e.getClientRects().length > 0})()`);
  const activeId = () => evaluate('document.activeElement && (document.activeElement.id || document.activeElement.textContent.trim())');
  const buttonsIn = (sel) => evaluate(`Array.prototype.map.call(document.querySelectorAll(${q(sel + ' button')}), function (b) { return b.textContent; })`);
  // Clicks the button with this text in `rowSel`.
  const clickIn = (rowSel, buttonText) => evaluate(`(function(){
    var row = document.querySelector(${q(rowSel)});
    if (!row) throw new Error('no row ' + ${q(rowSel)});
    var b = Array.prototype.find.call(row.querySelectorAll('button'), function (b) { return b.textContent === ${q(buttonText)}; });
    if (!b) throw new Error('no button ' + ${q(buttonText)} + ' in ' + ${q(rowSel)});
    b.click(); return true })()`);
  // The cells of a row, as text.
  const cells = (sel) => evaluate(`(function(){
    var r = document.querySelector(${q(sel)});
    return r ? Array.prototype.map.call(r.children, function (c) { return c.textContent.replace(/\\s+/g, ' ').trim(); }) : null })()`);
  // A real key press (with its text, so Enter and Space activate a button).
  const KEY_TEXT = { Enter: '\r', ' ': ' ' };
  const key = async (k, code, vk) => {
    const t = KEY_TEXT[k];
    await send('Input.dispatchKeyEvent', { type: t ? 'keyDown' : 'rawKeyDown', key: k, code, windowsVirtualKeyCode: vk, ...(t ? { text: t, unmodifiedText: t } : {}) });
    await send('Input.dispatchKeyEvent', { type: 'keyUp', key: k, code, windowsVirtualKeyCode: vk });
  };

  // A PNG of `selector` (with 8 px around it), else of the viewport (or,
  // with fullPage, of the whole page: a viewport as tall as the content).
  async function shot(name, selector) {
    const file = `${o.out}/${o.prefix}${name}.png`;
    let img;
    if (selector) {
      const r = await evaluate(`(function(){var b=document.querySelector(${q(selector)}).getBoundingClientRect();
        return {x:b.left+window.scrollX, y:b.top+window.scrollY, w:b.width, h:b.height}})()`);
      const clip = { x: Math.max(0, r.x - 8), y: Math.max(0, r.y - 8), width: r.w + 16, height: r.h + 16, scale: 1 };
      img = await send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip });
    } else if (o.fullPage) {
      const m = await send('Page.getLayoutMetrics');
      const height = Math.ceil(m.cssContentSize.height);
      await send('Emulation.setDeviceMetricsOverride', { width: 1280, height, deviceScaleFactor: 1, mobile: false });
      await sleep(200);
      img = await send('Page.captureScreenshot', { format: 'png' });
      await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
    } else {
      img = await send('Page.captureScreenshot', { format: 'png' });
    }
    writeFileSync(file, Buffer.from(img.data, 'base64'));
    shots.push(file);
    log('  shot ' + file);
  }

  // Stops Chromium (SIGTERM, then SIGKILL after 5 s) and, once it has
  // exited, deletes its profile directory, so runs leave nothing in /tmp.
  async function close() {
    ws.close();
    const exited = new Promise((r) => {
      if (chrome.exitCode !== null || chrome.signalCode !== null) r();
      else chrome.once('exit', r);
    });
    chrome.kill();
    if (await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]) === false) {
      chrome.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
    // Its helper processes may still be closing files: a moment, then delete.
    await sleep(300);
    try { rmSync(o.profile, { recursive: true, force: true }); } catch { /* still in use: left behind */ }
  }

  return { chrome, ws, send, listeners, visited, evaluate, waitFor, navigate, reload, click, fill, text, visible,
    activeId, buttonsIn, clickIn, cells, key, shot, close };
}

// Sets the password on a setup link's form (and the name, when given) and
// waits until the page has left /setup: signed in.
export async function setupSignIn(b, link, password, name) {
  await b.navigate(link);
  await b.waitFor('!!document.getElementById("password")', 'setup form');
  if (name) await b.fill('#name', name);
  await b.fill('#password', password);
  await b.fill('#confirm', password);
  await b.click('#sy-submit');
  await b.waitFor('location.pathname !== "/setup"', 'leaving /setup', 10000);
}

// Adds Cora, a collaborator, to the signed-in owner's workspace
// (`switchyard admin create-user`, run as `bin` in `dir` against `listen`),
// signs the owner out and Cora in through her setup link.
export async function signInCollaborator(b, { bin, dir, listen }) {
  const wsId = await b.evaluate(`window.Switchyard.gql('{ viewer { workspace { id } } }').then(function (d) { return d.viewer.workspace.id; })`);
  const out = execFileSync(bin, ['admin', 'create-user', '--email', 'cora@example.com', '--name', 'Cora',
    '--workspace', wsId, '--listen', listen], { cwd: dir, encoding: 'utf8' });
  const link = out.match(/http\S+\/setup\?token=\S+/)[0];
  await b.click('#sy-signout');
  await b.waitFor('location.pathname === "/login"', 'signed out');
  await setupSignIn(b, link, 'another long passphrase');
}

// ---- shared by the console areas' scripts (api-keys, webhooks, data-endpoints, members, events) ----

// Every request the page makes stays on `base` (http and ws): one to
// another origin is a problem. Needs startChrome's `network: true`.
export function sameOriginOnly(b, base) {
  const origin = new URL(base);
  b.listeners.push((m) => {
    if (m.method !== 'Network.requestWillBeSent' && m.method !== 'Network.webSocketCreated') return;
    const url = m.params.request ? m.params.request.url : m.params.url;
    if (/^(data|about|blob|chrome-extension):/.test(url)) return;
    const u = new URL(url);
    if (u.host !== origin.host) problems.push('request to another origin: ' + url);
  });
}

// The viewport `width` px wide (a phone at 390), or back to 1280.
export async function viewport(b, width, height = 900) {
  await b.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: width < 600 });
  await sleep(300);
}

// Every input, select and textarea inside `sel` has a label.
export async function checkLabels(b, sel) {
  const unlabelled = await b.evaluate(`Array.prototype.filter.call(document.querySelectorAll(${q(sel + ' input, ' + sel + ' select, ' + sel + ' textarea')}), function (i) {
    return !(i.labels && i.labels.length) && !i.getAttribute('aria-label') && !i.getAttribute('aria-labelledby'); }).map(function (i) { return i.id || i.name; })`);
  check(unlabelled.length === 0, 'every control in ' + sel + ' has a label ' + JSON.stringify(unlabelled));
}

// Screenshots of `sel` at 1280 px and at 390 px (phone), `name`-1280 and
// `name`-390; at 390 the page itself must not scroll sideways.
export async function shotBoth(b, name, sel) {
  await viewport(b, 1280, 1400);
  await b.shot(name + '-1280', sel);
  await viewport(b, 390, 1400);
  check(await b.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'), 'no page-wide sideways scroll at 390 px (' + name + ')');
  await b.shot(name + '-390', sel);
  await viewport(b, 1280, 900);
}

// A GraphQL call from the page (its session), resolving with `data`.
export function pageGql(b, query, variables) {
  return b.evaluate(`window.Switchyard.gql(${q(query)}, ${q(variables || {})})`);
}
