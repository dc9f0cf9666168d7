// Drives the console's Plugins area in headless Chromium over the DevTools
// protocol (no npm packages: Node 20 with --experimental-websocket). It
// starts everything itself: a weather API stand-in (node:http on 127.0.0.1:
// GET /v1/current.json?key=…&q=… answers WeatherAPI's shape for the city
// asked, 401 for another key) and a fresh Switchyard in a fresh directory
// with --allow-private-targets true so the server may call 127.0.0.1.
//
//   cargo build && node --experimental-websocket tests/browser/plugins.mjs \
//     target/debug/switchyard /work/shots/plugins [port]
//
// The walk: the marketplace lists the three shipped plugins with name,
// version, author, description and what each provides; Install the weather
// plugin with a bad config (the server's field errors next to api_key and
// base_url, nothing installed), then a good one: the key is a password
// input and shows as *** everywhere after; Run its action with a city and
// see the result; its call log shows the call (status, HTTP, attempts,
// duration); Configure with the secret left empty keeps the key (the
// stand-in still gets it); Disable (a run is refused, the server says
// why), Enable; a custom manifest (bad JSON and a bad manifest refused with
// their errors, then a weather 1.1.0) offers an Upgrade that carries the
// config over; Uninstall (confirmed; Escape keeps); a collaborator sees
// Run and Log but no owner control; the chat notifier, installed with its
// events typed one per line, shows its hook call in its log by itself. At 1280 and 390 px; keyboard focus and
// labels checked. Exits 1 on any failed check, JS exception, console error,
// failed request, HTTP error answer or request to another origin; writes
// PNG screenshots to the out dir (plugins-*.png). Needs /usr/bin/chromium.
//
// SY_ASSETS=playground serves /dashboard and /playground/* from that
// directory instead of the binary (to try page changes without a rebuild).
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { problems, log, check, sleep, q, walk, checkButtonNames, startServer, startChrome, setupSignIn,
  signInCollaborator } from './lib.mjs';

const BIN = resolve(process.argv[2] || 'target/debug/switchyard');
const OUT = process.argv[3] || '/work/shots/plugins';
const PORT = Number(process.argv[4] || 18620);
const BASE = `http://127.0.0.1:${PORT}`;
const CDP_PORT = Number(process.env.CDP_PORT || 9380);
mkdirSync(OUT, { recursive: true });

// ---- the weather API stand-in ----
const KEY = 'wk-' + Math.random().toString(36).slice(2, 12);
const hits = [];   // { key, q }
const chatPosts = [];   // bodies POSTed to /chat/… (the chat notifier's hook)
const weather = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const json = (status, v) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(v)); };
  if (req.method === 'POST' && url.pathname.startsWith('/chat/')) {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { chatPosts.push(body); res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('ok'); });
    return;
  }
  if (url.pathname !== '/v1/current.json') return json(404, { error: 'not found' });
  hits.push({ key: url.searchParams.get('key'), q: url.searchParams.get('q') });
  if (url.searchParams.get('key') !== KEY) return json(401, { error: { message: 'API key is invalid.' } });
  const city = url.searchParams.get('q');
  json(200, { location: { name: city, country: 'Testland' },
    current: { temp_c: 21.5, condition: { text: 'Sunny in ' + city }, last_updated: '2026-12-04 12:00' } });
});
await new Promise((r) => weather.listen(0, '127.0.0.1', r));
const W = `http://127.0.0.1:${weather.address().port}`;

const { server, dir: SERVER_DIR, setupLink: SETUP_LINK } = await startServer({
  bin: BIN, port: PORT, prefix: 'sy-plugins-', cleanup: () => weather.close() });

const browser = await startChrome({ cdpPort: CDP_PORT, profile: `/tmp/plugins-chrome-${process.pid}`, base: BASE,
  out: OUT, prefix: 'plugins-', network: true });
const { send, evaluate, waitFor, navigate, reload, click, fill, text, visible, activeId, buttonsIn, clickIn, cells, key, shot } = browser;
const gql = (query, variables) => evaluate(`window.Switchyard.gql(${q(query)}, ${q(variables || {})})`);

// Every request the page makes stays on the server's origin.
const foreign = [];
browser.listeners.push((m) => {
  if (m.method === 'Network.requestWillBeSent') {
    const u = m.params.request.url;
    if (!u.startsWith(BASE + '/') && !u.startsWith(BASE.replace('http', 'ws') + '/') && !u.startsWith('data:')) foreign.push(u);
  }
  if (m.method === 'Network.webSocketCreated' && !m.params.url.startsWith(BASE.replace('http', 'ws') + '/')) foreign.push(m.params.url);
});

const ready = '!document.getElementById("plugins-panel").hidden && ' +
  'document.getElementById("plugins-summary").textContent.indexOf("Loading") === -1 && ' +
  '!!document.querySelector("#market-rows tr[data-manifest-id]")';
const marketRow = (id) => `#market-rows tr[data-manifest-id="${id}"]`;
const pluginRow = (k) => `#plugins-rows tr[data-key="${k}"]`;
const pluginId = (k) => evaluate(`(function(){var r=document.querySelector(${q(pluginRow(k))}); return r ? r.dataset.pluginId : null})()`);
const inPanel = (sel) => `#plugins-panel ${sel}`;
async function widthShot(width, name, selector) {
  await send('Emulation.setDeviceMetricsOverride', { width, height: 900, deviceScaleFactor: 1, mobile: width < 500 });
  await sleep(300);
  check(await evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1'), `no page-wide sideways scroll at ${width} px`);
  await shot(name, selector);
  await send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
  await sleep(200);
}
const unlabelled = () => evaluate(`Array.prototype.filter.call(document.querySelectorAll('#plugins-panel input, #plugins-panel select, #plugins-panel textarea'), function (i) {
  return !(i.labels && i.labels.length) && !i.getAttribute('aria-label'); }).map(function (i) { return i.id || i.name; })`);

await walk(browser, async () => {
  log('setup and sign in');
  await setupSignIn(browser, SETUP_LINK, 'correct horse battery staple', 'Olive Owner');
  await navigate(`${BASE}/dashboard#/plugins`);
  await waitFor(ready, 'the Plugins area');

  // ---- 1. the marketplace ----
  log('marketplace');
  check((await text('#plugins-summary')).startsWith('No plugins installed yet'), 'nothing installed yet: ' + await text('#plugins-summary'));
  const ids = await evaluate(`Array.prototype.map.call(document.querySelectorAll('#market-rows tr[data-manifest-id]'), function (r) { return r.dataset.manifestId; })`);
  check(JSON.stringify(ids) === JSON.stringify(['plugin_weather_v1.0.0', 'plugin_chat_notifier_v1.0.0', 'plugin_http_forwarder_v1.0.0']), 'three plugins listed: ' + ids);
  const wrow = await cells(marketRow('plugin_weather_v1.0.0'));
  log('  ' + JSON.stringify(wrow));
  check(wrow[0].startsWith('Weather') && wrow[0].includes('Current weather'), 'name and description');
  check(wrow[1] === '1.0.0' && wrow[2] === 'Switchyard', 'version and author');
  check(wrow[3].includes('1 action: current'), 'what it provides: ' + wrow[3]);
  check((await cells(marketRow('plugin_chat_notifier_v1.0.0')))[3].includes('hook'), 'the chat notifier provides a hook');
  check(JSON.stringify(await buttonsIn(marketRow('plugin_weather_v1.0.0'))) === '["Install"]', 'owner sees Install');
  check(await evaluate('!document.getElementById("manifest-section").hidden'), 'owner sees the custom manifest form');
  await widthShot(1280, '01-marketplace', '#plugins-panel');

  // ---- 2. install with a bad config, then a good one ----
  log('install: bad config');
  await clickIn(marketRow('plugin_weather_v1.0.0'), 'Install');
  await waitFor('!!document.getElementById("install-weather-api_key")', 'the install form');
  check(await evaluate('document.getElementById("install-weather-api_key").type') === 'password', 'the secret api_key is a password input');
  check(await activeId() === 'install-weather-api_key', 'focus on the first field');
  check(await evaluate('document.getElementById("install-weather-default_city").value') === 'Beijing', 'the default city prefilled from the schema');
  check((await text('label[for="install-weather-api_key"]')).startsWith('API key'), 'fields are labelled: ' + await text('label[for="install-weather-api_key"]'));
  check((await unlabelled()).length === 0, 'every control has a label ' + JSON.stringify(await unlabelled()));
  await fill('#install-weather-base_url', 'ftp://nowhere');
  await click('#market-detail-plugin_weather_v1-0-0-marketplace button[type="submit"]');
  await waitFor('!document.getElementById("install-weather-api_key-error").hidden', 'the api_key field error');
  const keyErr = await text('#install-weather-api_key-error');
  const urlErr = await text('#install-weather-base_url-error');
  log('  errors: ' + keyErr + ' | ' + urlErr);
  check(keyErr === 'Required field is missing', 'the server\'s error next to api_key');
  check(urlErr.length > 0 && await evaluate('document.getElementById("install-weather-base_url").getAttribute("aria-invalid")') === 'true', 'and next to base_url');
  check(await activeId() === 'install-weather-api_key', 'focus on the first field at fault');
  check(!(await evaluate(`!!document.querySelector(${q(pluginRow('weather'))})`)), 'nothing installed');
  await shot('02-install-errors', '#market-section');

  log('install: good config');
  await fill('#install-weather-api_key', KEY);
  await fill('#install-weather-default_city', 'Oslo');
  await fill('#install-weather-base_url', `${W}/v1`);
  check(await evaluate('document.getElementById("install-weather-api_key-error").hidden'), 'typing clears the field error');
  await click('#market-detail-plugin_weather_v1-0-0-marketplace button[type="submit"]');
  await waitFor(`!!document.querySelector(${q(pluginRow('weather'))})`, 'the installed plugin');
  const P = await pluginId('weather');
  const prow = await cells(pluginRow('weather'));
  log('  row: ' + JSON.stringify(prow));
  check(prow[1] === '1.0.0' && prow[2] === 'active', 'version and status');
  check(prow[4].includes('api_key***') && prow[4].includes('default_cityOslo'), 'config shown with the secret masked: ' + prow[4]);
  check(!(await evaluate(`document.body.innerText.indexOf(${q(KEY)}) >= 0 || Array.prototype.some.call(document.querySelectorAll('input'), function (i) { return i.value === ${q(KEY)}; })`)),
    'the key appears nowhere on the page');
  check((await text(marketRow('plugin_weather_v1.0.0') + ' .sy-row-actions')) === 'Installed', 'the marketplace says Installed');
  check(JSON.stringify(await buttonsIn(pluginRow('weather'))) === '["Run","Log","Configure","Disable","Uninstall"]', 'owner controls: ' + JSON.stringify(await buttonsIn(pluginRow('weather'))));
  await shot('03-installed', '#plugins-panel');

  // ---- 3. run the action ----
  log('run');
  await clickIn(pluginRow('weather'), 'Run');
  await waitFor('!!document.getElementById("plugin-run-weather-in-current-city")', 'the run form with a city field');
  check(await activeId() === 'plugin-run-weather-in-current-city', 'focus on the input field');
  await fill('#plugin-run-weather-in-current-city', 'Paris');
  await click(`#plugin-detail-${P} button[type="submit"]`);
  await waitFor(`!!document.querySelector('#plugin-detail-${P} .sy-plugin-result-body')`, 'the result');
  const result = JSON.parse(await text(`#plugin-detail-${P} .sy-plugin-result-body`));
  log('  result: ' + JSON.stringify(result));
  check(result.city === 'Paris' && result.temp_c === 21.5 && result.condition === 'Sunny in Paris', 'the action\'s result (the manifest\'s pick)');
  check(hits.length === 1 && hits[0].key === KEY && hits[0].q === 'Paris', 'the stand-in got the key and the city');
  await shot('04-run-result', pluginRow('weather') + ' + tr');

  // ---- 4. the call log ----
  log('log');
  await clickIn(pluginRow('weather'), 'Log');
  await waitFor(`document.querySelectorAll('#plugin-detail-${P} tr[data-call-id]').length === 1`, 'the logged call');
  const call = await cells(`#plugin-detail-${P} tr[data-call-id]`);
  log('  call: ' + JSON.stringify(call));
  check(call[1] === 'action' && call[2] === 'current' && call[3] === 'succeeded' && call[4] === '200' && call[5] === '1' && /\d+ ms|s$/.test(call[6]),
    'kind, name, status, HTTP code, attempts, duration');
  check((await text(`#plugin-detail-${P} .sy-log-meta`)).includes('refreshed every 5 s'), 'says how it is kept fresh');
  // A failed call appears by itself (no click): a wrong key gives 401.
  await gql('mutation($i: UpdatePluginConfigInput!) { updatePluginConfig(input: $i) { userErrors { message } } }',
    { i: { id: P, config: { api_key: 'wrong', default_city: 'Oslo', base_url: `${W}/v1` } } });
  await gql('mutation($i: RunPluginActionInput!) { runPluginAction(input: $i) { userErrors { message } } }', { i: { pluginId: P, action: 'current' } });
  await waitFor(`document.querySelectorAll('#plugin-detail-${P} tr[data-call-id]').length === 2`, 'the failed call, refreshed', 12000);
  const failed = await cells(`#plugin-detail-${P} tr[data-call-id]`);
  check(failed[3] === 'failed' && failed[4] === '401' && failed[7].includes('401'), 'a failed call with its code and error: ' + JSON.stringify(failed));
  await shot('05-log', pluginRow('weather') + ' + tr');
  // Back to the right key.
  await gql('mutation($i: UpdatePluginConfigInput!) { updatePluginConfig(input: $i) { userErrors { message } } }',
    { i: { id: P, config: { api_key: KEY, default_city: 'Oslo', base_url: `${W}/v1` } } });

  // ---- 5. configure: an empty secret keeps its value ----
  log('configure');
  await reload();
  await waitFor(ready + ` && !!document.querySelector(${q(pluginRow('weather'))})`, 'the area again');
  await clickIn(pluginRow('weather'), 'Configure');
  await waitFor('!!document.getElementById("plugin-cfg-weather-api_key")', 'the configure form');
  check(await evaluate('document.getElementById("plugin-cfg-weather-api_key").value') === '' &&
    (await evaluate('document.getElementById("plugin-cfg-weather-api_key").placeholder')).includes('leave empty to keep'), 'the stored secret is not sent to the page; empty keeps it');
  await fill('#plugin-cfg-weather-default_city', 'Rome');
  await click(`#plugin-detail-${P} button[type="submit"]`);
  await waitFor(`(function(){var r=document.querySelector(${q(pluginRow('weather'))}); return r && r.children[4].textContent.indexOf('Rome') >= 0})()`, 'the new city');
  check(await activeId() === 'Configure', 'focus back on Configure');
  check((await cells(pluginRow('weather')))[4].includes('api_key***'), 'still masked');
  await clickIn(pluginRow('weather'), 'Run');
  await waitFor('!!document.getElementById("plugin-run-weather-in-current-city")', 'the run form');
  await click(`#plugin-detail-${P} button[type="submit"]`);
  await waitFor(`!!document.querySelector('#plugin-detail-${P} .sy-plugin-result-body')`, 'the result');
  const last = hits[hits.length - 1];
  check(last.key === KEY && last.q === 'Rome', 'the key was kept, the new default city used: ' + JSON.stringify(last));

  // ---- 6. disable and enable ----
  log('disable, enable');
  await clickIn(pluginRow('weather'), 'Disable');
  await waitFor(`document.querySelector(${q(pluginRow('weather'))}).children[2].textContent === 'inactive'`, 'inactive');
  check(await activeId() === 'Enable', 'focus on Enable');
  check(await evaluate(`document.querySelector(${q(pluginRow('weather'))}).classList.contains('sy-row-warn')`), 'an inactive plugin stands out');
  if (!(await evaluate('!!document.getElementById("plugin-run-weather-in-current-city")'))) await clickIn(pluginRow('weather'), 'Run');
  await waitFor('!!document.getElementById("plugin-run-weather-in-current-city")', 'the run form');
  await click(`#plugin-detail-${P} button[type="submit"]`);
  await waitFor(`!document.querySelector('#plugin-detail-${P} .sy-error').hidden`, 'the refusal');
  check((await text(`#plugin-detail-${P} .sy-error`)).includes('inactive'), 'an inactive plugin refuses: ' + await text(`#plugin-detail-${P} .sy-error`));
  await shot('06-disabled', '#plugins-table');
  await clickIn(pluginRow('weather'), 'Enable');
  await waitFor(`document.querySelector(${q(pluginRow('weather'))}).children[2].textContent === 'active'`, 'active again');

  // ---- 7. a custom manifest, then the upgrade ----
  log('custom manifest and upgrade');
  await fill('#manifest-json', '{ "id": ');
  await click('#manifest-add');
  await waitFor('!document.getElementById("manifest-json-error").hidden', 'the JSON error');
  check((await text('#manifest-json-error')).startsWith('Not valid JSON'), 'bad JSON refused in the page');
  await fill('#manifest-json', JSON.stringify({ id: 'plugin_Bad', name: '', version: 'one' }));
  await click('#manifest-add');
  await waitFor('!!document.querySelector("#manifest-json-error li")', 'the manifest errors');
  const merrs = await evaluate('Array.prototype.map.call(document.querySelectorAll("#manifest-json-error li"), function (l) { return l.textContent; })');
  log('  ' + JSON.stringify(merrs));
  check(merrs.length >= 2, 'each problem of the manifest listed');
  check(await activeId() === 'manifest-json', 'focus on the manifest');
  await shot('07-manifest-errors', '#manifest-section');
  const v11 = (await gql('{ marketplacePlugins { pluginId configSchema actions { name description inputSchema } } }'))
    .marketplacePlugins[0];
  const schema = JSON.parse(JSON.stringify(v11.configSchema));
  schema.properties.units = { type: 'string', enum: ['metric', 'imperial'], default: 'metric', description: 'Units of the answer.' };
  const manifest = {
    id: 'plugin_weather_v1.1.0', name: 'Weather', version: '1.1.0', author: 'My team',
    description: 'The weather plugin with units.', config_schema: schema,
    actions: [{ name: 'current', description: 'The weather now.', method: 'GET',
      url: '{{config.base_url}}/current.json?key={{config.api_key}}&q={{input.city ?? config.default_city}}',
      input_schema: v11.actions[0].inputSchema, result: { city: '/location/name', temp_c: '/current/temp_c' } }],
    hooks: [],
  };
  await fill('#manifest-json', JSON.stringify(manifest, null, 2));
  await click('#manifest-add');
  await waitFor(`!!document.querySelector(${q(marketRow('plugin_weather_v1.1.0'))})`, 'the custom manifest in the marketplace');
  check((await text('#manifest-result')).startsWith('Added Weather 1.1.0'), 'added: ' + await text('#manifest-result'));
  check((await cells(pluginRow('weather')))[1].includes('1.1.0 available'), 'the installed plugin shows the newer version');
  check(JSON.stringify(await buttonsIn(marketRow('plugin_weather_v1.1.0'))) === '["Upgrade"]', 'the marketplace offers the upgrade');
  // The form's own example is a valid manifest.
  await click('#manifest-example');
  check(await activeId() === 'manifest-json', 'the example fills the field and focuses it');
  await click('#manifest-add');
  await waitFor(`!!document.querySelector(${q(marketRow('plugin_status_page_v1.0.0'))})`, 'the example in the marketplace');
  check((await text('#manifest-result')).startsWith('Added Status page 1.0.0'), 'the example is accepted: ' + await text('#manifest-result'));
  await clickIn(pluginRow('weather'), 'Upgrade');
  await waitFor('!!document.getElementById("plugin-up-weather-units")', 'the upgrade form with the new field');
  check(await evaluate('document.getElementById("plugin-up-weather-default_city").value') === 'Rome', 'the current config carried into the form');
  check(await evaluate('document.getElementById("plugin-up-weather-units").tagName') === 'SELECT', 'an enum is a select');
  await shot('08-upgrade-form', pluginRow('weather') + ' + tr');
  await click(`#plugin-detail-${P} button[type="submit"]`);
  await waitFor(`document.querySelector(${q(pluginRow('weather'))}).children[1].textContent === '1.1.0'`, 'upgraded to 1.1.0');
  check(await pluginId('weather') === P, 'upgraded in place (same installation)');
  const up = await gql('mutation($i: RunPluginActionInput!) { runPluginAction(input: $i) { result userErrors { message } } }', { i: { pluginId: P, action: 'current', input: { city: 'Lima' } } });
  check(up.runPluginAction.result && up.runPluginAction.result.city === 'Lima' && hits[hits.length - 1].key === KEY, 'the upgraded plugin still has its key');

  // ---- 8. uninstall ----
  log('uninstall');
  await clickIn(pluginRow('weather'), 'Uninstall');
  await waitFor(`!!document.querySelector(${q(pluginRow('weather') + ' .sy-confirm')})`, 'the confirm step');
  check(await activeId() === 'Cancel', 'the confirm step focuses Cancel');
  await shot('09-uninstall-confirm', '#plugins-table');
  await key('Escape', 'Escape', 27);
  check(!(await evaluate(`!!document.querySelector(${q(pluginRow('weather') + ' .sy-confirm')})`)), 'Escape keeps it');
  await clickIn(pluginRow('weather'), 'Uninstall');
  await clickIn(pluginRow('weather'), 'Uninstall now');
  await waitFor(`!document.querySelector(${q(pluginRow('weather'))})`, 'the plugin gone');
  check(await activeId() === 'plugins-summary', 'focus on the summary');
  check(JSON.stringify(await buttonsIn(marketRow('plugin_weather_v1.0.0'))) === '["Install"]', 'installable again');

  // ---- 9. keyboard: open Install with Enter, close with Escape ----
  log('keyboard');
  await evaluate(`document.querySelector(${q(marketRow('plugin_chat_notifier_v1.0.0') + ' button')}).focus()`);
  await key('Enter', 'Enter', 13);
  await waitFor('!!document.getElementById("install-chat_notifier-webhook_url")', 'the chat notifier form by Enter');
  check(await activeId() === 'install-chat_notifier-webhook_url', 'focus in the form');
  check(await evaluate('document.getElementById("install-chat_notifier-events").tagName') === 'TEXTAREA' &&
    await evaluate('document.getElementById("install-chat_notifier-events").value') === '*', 'a list of strings is a textarea, one per line, with its default');
  await key('Escape', 'Escape', 27);
  await waitFor('!document.getElementById("install-chat_notifier-webhook_url")', 'closed by Escape');
  check(await activeId() === 'Install', 'focus back on Install');

  // ---- 10. a hook: its calls show in the log as they happen ----
  log('hook log');
  await clickIn(marketRow('plugin_chat_notifier_v1.0.0'), 'Install');
  await waitFor('!!document.getElementById("install-chat_notifier-webhook_url")', 'the chat notifier form');
  await fill('#install-chat_notifier-webhook_url', `${W}/chat/T1/B1/XYZ`);
  await fill('#install-chat_notifier-events', 'api_key.created\nwebhook.*');
  await click('#market-detail-plugin_chat_notifier_v1-0-0-marketplace button[type="submit"]');
  await waitFor(`!!document.querySelector(${q(pluginRow('chat_notifier'))})`, 'the chat notifier installed');
  const C = await pluginId('chat_notifier');
  check((await cells(pluginRow('chat_notifier')))[4].includes('events["api_key.created","webhook.*"]'), 'the list saved from one per line: ' + (await cells(pluginRow('chat_notifier')))[4]);
  await clickIn(pluginRow('chat_notifier'), 'Log');
  await waitFor(`(document.querySelector('#plugin-detail-${C} .sy-log-meta') || {}).textContent.indexOf('No calls yet') >= 0`, 'the empty log');
  await gql('mutation { createApiKey(input: { name: "makes an event", scopes: [READ] }) { secret userErrors { message } } }');
  await waitFor(`!!document.querySelector('#plugin-detail-${C} tr[data-call-id][data-status="SUCCEEDED"]')`, 'the hook call in the log, refreshed', 15000);
  const hook = await cells(`#plugin-detail-${C} tr[data-call-id]`);
  log('  hook call: ' + JSON.stringify(hook));
  check(hook[1] === 'hook' && hook[2].startsWith('post_event on evt_') && hook[4] === '200', 'a hook call: kind, name with its event, HTTP 200');
  check(chatPosts.length === 1 && chatPosts[0].includes('api_key.created'), 'the receiver got the event');
  await shot('10-hook-log', pluginRow('chat_notifier') + ' + tr');
  await clickIn(pluginRow('chat_notifier'), 'Uninstall');
  await clickIn(pluginRow('chat_notifier'), 'Uninstall now');
  await waitFor(`!document.querySelector(${q(pluginRow('chat_notifier'))})`, 'the chat notifier gone');

  // A plugin for the collaborator to see, then the narrow screen.
  await gql('mutation($i: InstallPluginInput!) { installPlugin(input: $i) { plugin { id } userErrors { message } } }',
    { i: { pluginId: 'plugin_weather_v1.0.0', config: { api_key: KEY, default_city: 'Oslo', base_url: `${W}/v1` } } });
  await reload();
  await waitFor(ready + ` && !!document.querySelector(${q(pluginRow('weather'))})`, 'the area again');
  await widthShot(1280, '11-wide', '#plugins-panel');
  await widthShot(390, '12-narrow', '#plugins-panel');
  await checkButtonNames(browser);

  // ---- 11. a collaborator ----
  log('collaborator');
  await signInCollaborator(browser, { bin: BIN, dir: SERVER_DIR, listen: `127.0.0.1:${PORT}` });
  await navigate(`${BASE}/dashboard#/plugins`);
  await waitFor(ready + ` && !!document.querySelector(${q(pluginRow('weather'))})`, 'the collaborator\'s view');
  check(JSON.stringify(await buttonsIn(pluginRow('weather'))) === '["Run","Log"]', 'collaborator: Run and Log only');
  check(JSON.stringify(await buttonsIn('#market-rows')) === '[]', 'collaborator: no Install');
  check(await evaluate('document.getElementById("manifest-section").hidden'), 'collaborator: no custom manifest form');
  await clickIn(pluginRow('weather'), 'Run');
  const P2 = await pluginId('weather');
  await waitFor('!!document.getElementById("plugin-run-weather-in-current-city")', 'the run form');
  await fill('#plugin-run-weather-in-current-city', 'Cairo');
  await click(`#plugin-detail-${P2} button[type="submit"]`);
  await waitFor(`!!document.querySelector('#plugin-detail-${P2} .sy-plugin-result-body')`, 'the collaborator\'s result');
  check((await text(`#plugin-detail-${P2} .sy-plugin-result-body`)).includes('Cairo'), 'a collaborator runs an action');
  await shot('13-collaborator', '#plugins-panel');

  check(foreign.length === 0, 'no request to another origin ' + JSON.stringify(foreign.slice(0, 3)));
}, () => { server.kill('SIGTERM'); weather.close(); }, 'no JS exceptions, no console errors, no failed requests, every check passed');
