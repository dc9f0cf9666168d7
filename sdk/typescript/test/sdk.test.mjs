// The SDK against a real server: every resource, pagination helpers,
// typed errors, 429 retries and webhook verification.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";

import { Switchyard, TaiShangLaoJunAPI, SwitchyardError } from "../dist/index.js";
import { verifyWebhook } from "../dist/webhooks.js";
import { startServer } from "./server.mjs";

let server;
let api;

before(async () => {
  server = await startServer();
  api = new Switchyard({ apiKey: server.apiKey, baseURL: `${server.url}/v1` });
});
after(async () => server && (await server.stop()));

/** A local receiver answering `status`; keeps what it got. */
async function receiver(status = 200) {
  const hits = [];
  const s = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      hits.push({ headers: req.headers, body });
      res.writeHead(status).end();
    });
  });
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${s.address().port}/hook`, hits, close: () => s.close() };
}

test("the seed's example works as written", async () => {
  const seedApi = new TaiShangLaoJunAPI({ apiKey: server.apiKey, baseURL: `${server.url}/v1` });
  const apiKey = await seedApi.apiKeys.create({ name: "我的API密钥", permissions: ["read", "write"] });
  assert.match(apiKey.key, /^sk_test_/);
  assert.equal(apiKey.prefix, apiKey.key.slice(0, 12));
  assert.deepEqual(apiKey.permissions, ["read", "write"]);
  await seedApi.apiKeys.delete(apiKey.id);

  // 安装插件
  const plugin = await seedApi.plugins.install({
    plugin_id: "plugin_weather_v1.0.0",
    config: { api_key: "weather_api_key" }
  });
  assert.deepEqual([plugin.id, plugin.plugin_id], ["plugin_weather_v1.0.0", "plugin_weather_v1.0.0"]);
  assert.ok(plugin.installation_id.startsWith("plg_"));
  assert.deepEqual([plugin.config.api_key, plugin.config.default_city], ["***", "Beijing"]);
  await seedApi.plugins.uninstall(plugin.id);
});

test("plugins: install, list, iterate, status, config, uninstall", async () => {
  const bad = await api.plugins
    .install({ plugin_id: "plugin_weather_v1.0.0", config: { api_key: "", default_city: 7 } })
    .catch((e) => e);
  assert.ok(bad instanceof SwitchyardError);
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.errors.map((e) => e.field).sort(), ["config.api_key", "config.default_city"]);
  const weather = await api.plugins.install({ plugin_id: "plugin_weather_v1.0.0", config: { api_key: "s3cret", default_city: "Oslo" } });
  const chat = await api.plugins.install({
    plugin_id: "plugin_chat_notifier_v1.0.0",
    config: { webhook_url: "http://127.0.0.1:9/hook", events: ["plugin.installed"] }
  });
  assert.equal(chat.config.webhook_url, "***");
  const page = await api.plugins.list({ status: "active", page: 1, limit: 1 });
  assert.deepEqual(page.pagination, { page: 1, limit: 1, total: 2, total_pages: 2 });
  const all = [];
  for await (const p of api.plugins.listAll({ limit: 1 })) all.push(p.id);
  assert.deepEqual(all, [chat.id, weather.id]);
  assert.equal((await api.plugins.updateStatus(weather.id, "inactive")).status, "inactive");
  assert.equal((await api.plugins.list({ status: "inactive" })).data[0].id, weather.id);
  const one = await api.plugins.get(weather.id);
  assert.deepEqual([one.id, one.status, one.config.api_key], [weather.id, "inactive", "***"]);
  assert.equal((await api.plugins.get("weather")).id, weather.id, "by key");
  assert.ok(!JSON.stringify(one).includes("s3cret"));
  const cfg = await api.plugins.updateConfig(weather.id, { api_key: "***", default_city: "Paris" });
  assert.deepEqual([cfg.config.api_key, cfg.config.default_city], ["***", "Paris"]);
  await api.plugins.uninstall(weather.id);
  await api.plugins.uninstall("plugin_chat_notifier_v1.0.0");
  const gone = await api.plugins.uninstall(weather.id).catch((e) => e);
  assert.equal(gone.code, "NOT_FOUND");
});

test("integrations: create, list, get, test, sync, update, delete", async () => {
  const slack = await receiver(200);
  try {
    const bad = await api.integrations.create({ name: "S", service_type: "fax" }).catch((e) => e);
    assert.equal(bad.details.field, "service_type");
    const made = await api.integrations.create({
      name: "Slack集成",
      service_type: "slack",
      config: { webhook_url: `${slack.url}/services/SECRET`, channel: "#general", events: ["api_key.created"] },
      settings: { auto_sync: false, sync_interval: 300 }
    });
    assert.equal(made.config.webhook_url, "***");
    assert.deepEqual(made.settings, { auto_sync: false, sync_interval: 300 });
    const page = await api.integrations.list({ service_type: "slack", status: "active" });
    assert.equal(page.pagination.total, 1);
    const all = [];
    for await (const i of api.integrations.listAll({ limit: 1 })) all.push(i.id);
    assert.ok(all.includes(made.id));
    assert.equal((await api.integrations.get(made.id)).name, "Slack集成");
    const t = await api.integrations.test(made.id);
    assert.deepEqual([t.ok, t.status_code], [true, 200]);
    assert.equal(JSON.parse(slack.hits[0].body).channel, "#general");

    const k = await api.apiKeys.create({ name: "synced" });
    await new Promise((r) => setTimeout(r, 1200));
    const run = await api.integrations.sync(made.id);
    assert.equal(run.status, "queued");
    let i;
    for (let n = 0; n < 300; n++) {
      i = await api.integrations.get(made.id);
      if (i.last_sync_at) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(i.last_sync_at && i.items_synced >= 1, JSON.stringify(i));
    const runs = await api.integrations.syncRuns(made.id, { page: 1, limit: 1 });
    assert.ok(runs.pagination.total >= 1, JSON.stringify(runs));
    assert.deepEqual([runs.data[0].id, runs.data[0].trigger, runs.data[0].status], [run.id, "manual", "succeeded"]);
    const allRuns = [];
    for await (const r of api.integrations.syncRunsAll(made.id, { limit: 1 })) allRuns.push(r.id);
    assert.equal(allRuns.length, runs.pagination.total);
    await api.apiKeys.delete(k.id);

    const upd = await api.integrations.update(made.id, { status: "inactive", config: { webhook_url: "***", channel: "#ops" } });
    assert.deepEqual([upd.status, upd.config.webhook_url, upd.config.channel], ["inactive", "***", "#ops"]);
    const refused = await api.integrations.sync(made.id).catch((e) => e);
    assert.equal(refused.status, 400);
    await api.integrations.delete(made.id);
    assert.equal((await api.integrations.get(made.id).catch((e) => e)).code, "NOT_FOUND");
    assert.equal((await api.integrations.syncRuns(made.id).catch((e) => e)).code, "NOT_FOUND");
  } finally {
    slack.close();
  }
});

test("api keys: create, list, iterate, get, update, usage, delete", async () => {
  const created = [];
  for (let i = 0; i < 3; i++) created.push(await api.apiKeys.create({ name: `k${i}`, description: "sdk" }));
  const page = await api.apiKeys.list({ page: 1, limit: 2 });
  assert.equal(page.data.length, 2);
  assert.equal(page.pagination.total, 4);
  assert.equal(page.pagination.total_pages, 2);
  assert.equal(page.data[0].key, undefined, "the secret is shown once");
  const all = [];
  for await (const k of api.apiKeys.listAll({ limit: 1 })) all.push(k.id);
  assert.equal(all.length, 4);
  assert.equal(new Set(all).size, 4, "each key once across pages");

  const id = created[0].id;
  assert.equal((await api.apiKeys.get(id)).name, "k0");
  const upd = await api.apiKeys.update(id, { name: "renamed", enabled: false });
  assert.equal(upd.name, "renamed");
  assert.equal(upd.enabled, false);
  const usage = await api.apiKeys.usage(id, { days: 7 });
  assert.equal(usage.api_key_id, id);
  assert.ok(Array.isArray(usage.days));

  for (const k of created) await api.apiKeys.delete(k.id);
  await assert.rejects(api.apiKeys.get(id), (e) => e instanceof SwitchyardError && e.code === "NOT_FOUND" && e.status === 404);
});

test("errors carry the code and the field", async () => {
  const err = await api.apiKeys.create({ name: "x", permissions: [] }).catch((e) => e);
  assert.ok(err instanceof SwitchyardError);
  assert.equal(err.code, "INVALID_REQUEST");
  assert.equal(err.status, 400);
  assert.equal(err.details.field, "permissions");
  const bad = new Switchyard({ apiKey: "sk_test_wrong", baseURL: `${server.url}/v1` });
  await assert.rejects(bad.webhooks.list(), (e) => e.code === "UNAUTHORIZED" && e.status === 401);
});

test("webhooks: create, signed test, logs, retry, update, delete", async () => {
  const r = await receiver(200);
  try {
    const w = await api.webhooks.create({ url: r.url, events: ["api_key.created"], headers: { "X-Custom-Header": "value" } });
    assert.match(w.secret, /^whsec_/);
    assert.deepEqual(w.headers, { "X-Custom-Header": "***" });
    assert.equal((await api.webhooks.list()).pagination.total, 1);
    assert.equal((await api.webhooks.get(w.id)).secret, undefined);

    const log = await api.webhooks.test(w.id);
    assert.equal(log.status, "success");
    assert.equal(log.response_code, 200);
    assert.equal(log.event, "webhook.test");
    const hit = r.hits[0];
    assert.equal(hit.headers["x-custom-header"], "value");
    const verified = verifyWebhook(hit.body, hit.headers, w.secret);
    assert.equal(verified.event, "webhook.test");
    assert.throws(() => verifyWebhook(hit.body + " ", hit.headers, w.secret), "a changed body fails");

    const logs = await api.webhooks.logs(w.id, { page: 1, limit: 50 });
    assert.equal(logs.data[0].id, log.id);
    const every = [];
    for await (const l of api.webhooks.logsAll(w.id)) every.push(l);
    assert.equal(every.length, logs.pagination.total);
    assert.deepEqual(await api.webhooks.retry(w.id), { retried: 0 });

    assert.equal((await api.webhooks.update(w.id, { active: false })).active, false);
    await api.webhooks.delete(w.id);
    await assert.rejects(api.webhooks.get(w.id), (e) => e.code === "NOT_FOUND");
  } finally {
    r.close();
  }
});

test("oauth: apps, client credentials, revoke, authorize URL", async () => {
  const app = await api.oauth.createApp({ name: "我的应用", redirect_uris: ["https://myapp.com/callback"], scopes: ["read", "write"] });
  assert.match(app.client_secret, /^secret_/);
  assert.equal((await api.oauth.listApps()).pagination.total, 1);
  assert.equal((await api.oauth.getApp(app.id)).client_secret, undefined);

  const tok = await api.oauth.token({ grant_type: "client_credentials", client_id: app.client_id, client_secret: app.client_secret });
  assert.equal(tok.token_type, "Bearer");
  const asApp = new Switchyard({ apiKey: tok.access_token, baseURL: `${server.url}/v1` });
  await assert.rejects(asApp.apiKeys.list(), (e) => e.code === "FORBIDDEN", "the app's token lacks admin");
  await api.oauth.revoke({ token: tok.access_token, client_id: app.client_id, client_secret: app.client_secret });
  await assert.rejects(asApp.apiKeys.list(), (e) => e.code === "UNAUTHORIZED");
  const bad = await api.oauth.token({ grant_type: "client_credentials", client_id: app.client_id, client_secret: "nope" }).catch((e) => e);
  assert.equal(bad.code, "invalid_client");

  const url = api.oauth.authorizeUrl({ client_id: app.client_id, redirect_uri: "https://myapp.com/callback", scope: "read", state: "s" });
  assert.ok(url.startsWith(`${server.url}/v1/oauth/authorize?`));
  assert.equal((await fetch(url, { redirect: "manual" })).status, 200, "the consent page");
  await api.oauth.deleteApp(app.id);
});

test("data endpoints: create, get, replace, delete", async () => {
  const d = await server.graphql(
    `mutation { createDataEndpoint(input: { slug: "orders", name: "Orders" }) { dataEndpoint { id } userErrors { message } }
                createDataKey(input: { name: "sdk" }) { secret userErrors { message } } }`,
  );
  const data = new Switchyard({ dataKey: d.createDataKey.secret, baseURL: `${server.url}/v1` }).data("orders");
  const q = await data.create({ order_id: "A-1", total: 5 });
  assert.equal(q.success, true);
  assert.match(q.id, /^rec_/);
  let rec;
  for (let i = 0; i < 100; i++) {
    rec = await data.get(q.id).catch(() => undefined);
    if (rec && rec.data?.order_id === "A-1") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(rec.data.order_id, "A-1");
  assert.equal((await data.replace(q.id, { order_id: "A-1", total: 6 })).success, true);
  assert.equal((await data.delete(q.id)).success, true);
  const err = await new Switchyard({ dataKey: "tm_test_wrong", baseURL: `${server.url}/v1` }).data("orders").get(q.id).catch((e) => e);
  assert.equal(err.status, 401);
});

test("429 is retried after Retry-After", async () => {
  let calls = 0;
  const s = http.createServer((req, res) => {
    calls++;
    if (calls === 1) res.writeHead(429, { "retry-after": "1", "content-type": "application/json" }).end(JSON.stringify({ error: { code: "RATE_LIMITED", message: "slow down" } }));
    else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ data: [], pagination: { page: 1, limit: 20, total: 0, total_pages: 0 } }));
  });
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  try {
    const c = new Switchyard({ apiKey: "k", baseURL: `http://127.0.0.1:${s.address().port}/v1` });
    const t0 = Date.now();
    const page = await c.webhooks.list();
    assert.equal(calls, 2);
    assert.ok(Date.now() - t0 >= 900, "waited for Retry-After");
    assert.equal(page.pagination.total, 0);
    const none = new Switchyard({ apiKey: "k", baseURL: `http://127.0.0.1:${s.address().port}/v1`, maxRetries: 0 });
    calls = 0;
    await assert.rejects(none.webhooks.list(), (e) => e.code === "RATE_LIMITED" && e.retryAfter === 1);
  } finally {
    s.close();
  }
});
