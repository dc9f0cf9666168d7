/**
 * Switchyard's REST API client: seed 002's `/v1` routes (API keys,
 * plugins, integrations, webhooks, OAuth) and the data API (`/api/v1/data`). No runtime
 * dependency beyond `fetch`. Webhook signature verification lives in
 * `@switchyard/sdk/webhooks` (it delegates to the `standardwebhooks` package).
 */

export type Permission = "read" | "write" | "admin";

/** `{"data": [...], "pagination": {...}}`, as every list answers. */
export interface Paginated<T> {
  data: T[];
  pagination: { page: number; limit: number; total: number; total_pages: number };
}

export interface PageParams {
  /** From 1 (default 1). */
  page?: number;
  /** 1 to 100 (default 20). */
  limit?: number;
}

export interface ApiKey {
  id: string;
  name: string;
  description: string;
  /** The secret: only in the answer to `create`. */
  key?: string;
  prefix: string;
  permissions: Permission[];
  environment: "test" | "live";
  enabled: boolean;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  usage_count: number;
}

export interface CreateApiKey {
  name: string;
  description?: string;
  permissions?: Permission[];
  expires_at?: string | null;
  environment?: "test" | "live";
}

export interface UpdateApiKey {
  name?: string;
  description?: string;
  permissions?: Permission[];
  /** `null` removes the expiry. */
  expires_at?: string | null;
  enabled?: boolean;
}

export interface ApiKeyUsage {
  api_key_id: string;
  total: number;
  days: { day: string; total: number; by_status_class: Record<string, number> }[];
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  description: string;
  /** Values are shown as `***`. */
  headers: Record<string, string>;
  active: boolean;
  disabled_reason: string | null;
  rate_limit_per_minute: number | null;
  /** Seconds a receiver has to answer. */
  timeout_seconds: number;
  /** The signing secret (`whsec_…`): only in the answer to `create`. */
  secret?: string;
  created_at: string;
  updated_at: string;
}

export interface CreateWebhook {
  url: string;
  events: string[];
  secret?: string;
  headers?: Record<string, string>;
  active?: boolean;
  description?: string;
  rate_limit_per_minute?: number | null;
  /** 1 to 60. */
  timeout_seconds?: number;
}

export type UpdateWebhook = Partial<Omit<CreateWebhook, "secret">>;

export interface WebhookLog {
  id: string;
  webhook_id: string;
  delivery_id: string;
  event: string;
  status: "success" | "failed";
  response_code: number | null;
  response_time: number;
  attempt: number;
  error: string | null;
  created_at: string;
  payload: Record<string, unknown>;
}

export interface OAuthApp {
  id: string;
  name: string;
  description: string;
  client_id: string;
  /** Only in the answer to `createApp`, for a confidential app. */
  client_secret?: string;
  confidential: boolean;
  redirect_uris: string[];
  scopes: Permission[];
  created_at: string;
  updated_at: string;
}

export interface CreateOAuthApp {
  name: string;
  description?: string;
  redirect_uris: string[];
  scopes: Permission[];
  confidential?: boolean;
}

export interface TokenRequest {
  grant_type: "authorization_code" | "refresh_token" | "client_credentials";
  client_id?: string;
  client_secret?: string;
  code?: string;
  redirect_uri?: string;
  code_verifier?: string;
  refresh_token?: string;
  scope?: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

export interface AuthorizeParams {
  client_id: string;
  redirect_uri: string;
  scope?: string;
  state?: string;
  code_challenge?: string;
  code_challenge_method?: "S256";
}

export type PluginStatus = "active" | "inactive";
export interface Plugin {
  /** The manifest id (`plugin_weather_v1.0.0`), as the seed shows it; paths also take `installation_id` or the key (`weather`). */
  id: string;
  plugin_id: string;
  /** `plg_…`: the installation, the same across upgrades. */
  installation_id: string;
  key: string;
  name: string;
  description: string;
  version: string;
  author: string;
  source: "marketplace" | "custom";
  status: PluginStatus;
  /** Secret fields that are set are shown as `***`. */
  config: Record<string, unknown>;
  installed_at: string;
  updated_at: string;
}
export interface InstallPlugin {
  plugin_id: string;
  source?: "marketplace" | "custom";
  config?: Record<string, unknown>;
}
export type IntegrationStatus = "active" | "inactive" | "error";
export interface IntegrationSettings {
  auto_sync: boolean;
  /** Seconds between scheduled syncs, 60 to 2678400 (default 300). */
  sync_interval?: number;
}
export interface Integration {
  id: string;
  name: string;
  service_type: string;
  /** Secret fields that are set are shown as `***`. */
  config: Record<string, unknown>;
  settings: Required<IntegrationSettings>;
  status: IntegrationStatus;
  last_test_at: string | null;
  last_test_status_code: number | null;
  last_test_error: string | null;
  last_sync_at: string | null;
  last_error: string | null;
  items_synced: number;
  created_at: string;
  updated_at: string;
}
export interface CreateIntegration {
  name: string;
  service_type: string;
  config?: Record<string, unknown>;
  settings?: IntegrationSettings;
}
export interface UpdateIntegration {
  name?: string;
  /** The whole config; a secret field sent back as `***` keeps its stored value. */
  config?: Record<string, unknown>;
  settings?: IntegrationSettings;
  status?: "active" | "inactive";
}
export interface IntegrationTestResult {
  ok: boolean;
  status_code: number | null;
  error: string | null;
  integration: Integration;
}
export interface SyncRun {
  id: string;
  integration_id: string;
  trigger: "manual" | "schedule";
  /** `skipped`: another run of the integration was running (`note` names it). */
  status: "queued" | "running" | "succeeded" | "failed" | "skipped";
  items: number;
  /** Records deleted because their item is gone at the service (inbound `delete_missing`). */
  deleted: number;
  error: string | null;
  /** What a run that did not fail should tell: an inbound sync stopped at a bound (the next run continues) or whose deletions were held back, or the run a skipped one found running. */
  note: string | null;
  created_at: string;
  finished_at: string | null;
}
/** `202` of the data API's writes. */
export interface Queued {
  success: true;
  id: string;
  message: string;
}

export interface DataWriteOptions {
  /** URL that receives the processing result (`X-Webhook-Callback`). */
  callback?: string;
  callbackAuth?: string;
  callbackAuthHeader?: string;
  idempotencyKey?: string;
}

/** One problem with one input field. */
export interface ErrorDetails {
  field: string;
  reason: string;
}

/** An error answer, with the seed's `code` and `details`. */
export class SwitchyardError extends Error {
  /** `INVALID_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, `RATE_LIMITED`, `INTERNAL_ERROR` (or an OAuth `error`). */
  readonly code: string;
  readonly status: number;
  /** The first field at fault, if any. */
  readonly details?: ErrorDetails;
  /** Every field at fault. */
  readonly errors: ErrorDetails[];
  /** Seconds to wait (429). */
  readonly retryAfter?: number;
  readonly requestId?: string;

  constructor(status: number, body: any, headers?: Headers) {
    const e = body?.error;
    let code: string;
    let message: string;
    let errors: ErrorDetails[] = [];
    if (e && typeof e === "object") {
      // /v1: {"error": {"code", "message", "details", "errors"}}
      code = e.code;
      message = e.message;
      errors = e.errors ?? (e.details ? [e.details] : []);
    } else if (typeof e === "string" && body?.success === false) {
      // The data API: {"success": false, "error", "code", "details": [{"field", "error"}]}
      code = body.code ?? "INVALID_REQUEST";
      message = e;
      errors = (body.details ?? []).map((d: any) => ({ field: d.field, reason: d.error }));
    } else if (typeof e === "string") {
      // OAuth (RFC 6749 §5.2): {"error", "error_description"}
      code = e;
      message = body.error_description ?? e;
    } else {
      code = status >= 500 ? "INTERNAL_ERROR" : "INVALID_REQUEST";
      message = `HTTP ${status}`;
    }
    super(message);
    this.name = "SwitchyardError";
    this.status = status;
    this.code = code;
    this.errors = errors;
    this.details = errors[0];
    const ra = headers?.get("retry-after");
    this.retryAfter = ra ? Number(ra) : undefined;
    this.requestId = headers?.get("x-request-id") ?? undefined;
  }
}

export interface ClientOptions {
  /** An `sk_test_…`/`sk_live_…` API key or an OAuth access token. */
  apiKey?: string;
  /** A `tm_test_…`/`tm_live_…` data key, for `data(slug)`. */
  dataKey?: string;
  /** The `/v1` base, e.g. `http://127.0.0.1:8080/v1` (default). */
  baseURL?: string;
  /** Retries of a 429 (honouring `Retry-After`); default 2. */
  maxRetries?: number;
  /** Longest wait for one retry, in seconds; default 60. */
  maxRetryWaitSeconds?: number;
  fetch?: typeof fetch;
}

interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  form?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  auth?: "key" | "data" | "none";
  /** Resolve the raw answer (no JSON parsing). */
  raw?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The HTTP core every resource shares. */
export class Transport {
  readonly baseURL: string;
  /** The server's origin plus any path before `/v1`. */
  readonly root: string;
  private readonly opts: ClientOptions;
  private readonly fetchFn: typeof fetch;

  constructor(opts: ClientOptions) {
    this.opts = opts;
    this.baseURL = (opts.baseURL ?? "http://127.0.0.1:8080/v1").replace(/\/+$/, "");
    this.root = this.baseURL.replace(/\/v1$/, "");
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
  }

  url(path: string, query?: RequestOptions["query"]): string {
    const base = path.startsWith("/api/") ? this.root : this.baseURL;
    const u = new URL(base + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  async request<T>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json", ...(o.headers ?? {}) };
    const token = o.auth === "none" ? undefined : o.auth === "data" ? this.opts.dataKey : this.opts.apiKey;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (o.form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      const f = new URLSearchParams();
      for (const [k, v] of Object.entries(o.form)) if (v !== undefined) f.set(k, v);
      body = f.toString();
    } else if (o.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(o.body);
    }
    const maxRetries = this.opts.maxRetries ?? 2;
    for (let attempt = 0; ; attempt++) {
      const resp = await this.fetchFn(this.url(path, o.query), { method, headers, body, redirect: "manual" });
      if (resp.status === 429 && attempt < maxRetries) {
        const after = Number(resp.headers.get("retry-after") ?? "1");
        const wait = Math.min(Number.isFinite(after) ? after : 1, this.opts.maxRetryWaitSeconds ?? 60);
        await resp.arrayBuffer();
        await sleep(Math.max(wait, 0) * 1000);
        continue;
      }
      if (o.raw) return resp as unknown as T;
      const text = await resp.text();
      const parsed = text ? safeJson(text) : undefined;
      if (!resp.ok) throw new SwitchyardError(resp.status, parsed, resp.headers);
      return parsed as T;
    }
  }

  /** Every item of a paginated list, page after page. */
  async *paginate<T>(path: string, query: Record<string, string | number | boolean | undefined> = {}): AsyncGenerator<T> {
    const limit = (query.limit as number | undefined) ?? 100;
    for (let page = (query.page as number | undefined) ?? 1; ; page++) {
      const r = await this.request<Paginated<T>>("GET", path, { query: { ...query, page, limit } });
      yield* r.data;
      if (page >= r.pagination.total_pages) return;
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const enc = encodeURIComponent;
const idem = (key?: string) => (key ? { "idempotency-key": key } : undefined);

/** `/v1/api-keys`. */
export class ApiKeys {
  constructor(private readonly t: Transport) {}
  create(body: CreateApiKey, opts: { idempotencyKey?: string } = {}): Promise<ApiKey> {
    return this.t.request("POST", "/api-keys", { body, headers: idem(opts.idempotencyKey) });
  }
  list(params: PageParams & { enabled?: boolean } = {}): Promise<Paginated<ApiKey>> {
    return this.t.request("GET", "/api-keys", { query: { ...params } });
  }
  /** Every key, across pages. */
  listAll(params: { enabled?: boolean; limit?: number } = {}): AsyncGenerator<ApiKey> {
    return this.t.paginate("/api-keys", { ...params });
  }
  get(id: string): Promise<ApiKey> {
    return this.t.request("GET", `/api-keys/${enc(id)}`);
  }
  update(id: string, body: UpdateApiKey): Promise<ApiKey> {
    return this.t.request("PUT", `/api-keys/${enc(id)}`, { body });
  }
  delete(id: string): Promise<void> {
    return this.t.request("DELETE", `/api-keys/${enc(id)}`);
  }
  usage(id: string, params: { days?: number } = {}): Promise<ApiKeyUsage> {
    return this.t.request("GET", `/api-keys/${enc(id)}/usage`, { query: { ...params } });
  }
}

/** `/v1/webhooks`. */
export class Webhooks {
  constructor(private readonly t: Transport) {}
  create(body: CreateWebhook, opts: { idempotencyKey?: string } = {}): Promise<Webhook> {
    return this.t.request("POST", "/webhooks", { body, headers: idem(opts.idempotencyKey) });
  }
  list(params: PageParams & { active?: boolean } = {}): Promise<Paginated<Webhook>> {
    return this.t.request("GET", "/webhooks", { query: { ...params } });
  }
  listAll(params: { active?: boolean; limit?: number } = {}): AsyncGenerator<Webhook> {
    return this.t.paginate("/webhooks", { ...params });
  }
  get(id: string): Promise<Webhook> {
    return this.t.request("GET", `/webhooks/${enc(id)}`);
  }
  update(id: string, body: UpdateWebhook): Promise<Webhook> {
    return this.t.request("PUT", `/webhooks/${enc(id)}`, { body });
  }
  delete(id: string): Promise<void> {
    return this.t.request("DELETE", `/webhooks/${enc(id)}`);
  }
  /** Sends a signed `webhook.test` message now; the attempt, whatever the receiver answered. */
  test(id: string): Promise<WebhookLog> {
    return this.t.request("POST", `/webhooks/${enc(id)}/test`);
  }
  logs(id: string, params: PageParams = {}): Promise<Paginated<WebhookLog>> {
    return this.t.request("GET", `/webhooks/${enc(id)}/logs`, { query: { ...params } });
  }
  logsAll(id: string, params: { limit?: number } = {}): AsyncGenerator<WebhookLog> {
    return this.t.paginate(`/webhooks/${enc(id)}/logs`, { ...params });
  }
  /** Sends every failed message again. */
  retry(id: string): Promise<{ retried: number }> {
    return this.t.request("POST", `/webhooks/${enc(id)}/retry`);
  }
}

/** `/v1/oauth`: apps and the authorization server. */
export class OAuth {
  constructor(private readonly t: Transport) {}
  createApp(body: CreateOAuthApp): Promise<OAuthApp> {
    return this.t.request("POST", "/oauth/apps", { body });
  }
  listApps(params: PageParams = {}): Promise<Paginated<OAuthApp>> {
    return this.t.request("GET", "/oauth/apps", { query: { ...params } });
  }
  getApp(id: string): Promise<OAuthApp> {
    return this.t.request("GET", `/oauth/apps/${enc(id)}`);
  }
  deleteApp(id: string): Promise<void> {
    return this.t.request("DELETE", `/oauth/apps/${enc(id)}`);
  }
  /** The URL to send a user's browser to (`GET /v1/oauth/authorize`). */
  authorizeUrl(p: AuthorizeParams): string {
    return this.t.url("/oauth/authorize", { response_type: "code", ...p });
  }
  /** `POST /v1/oauth/token`: exchange a code, refresh, or client credentials. */
  token(body: TokenRequest): Promise<TokenResponse> {
    return this.t.request("POST", "/oauth/token", { form: { ...body }, auth: "none" });
  }
  /** `POST /v1/oauth/revoke` (RFC 7009). */
  async revoke(body: { token: string; client_id: string; client_secret?: string }): Promise<void> {
    await this.t.request("POST", "/oauth/revoke", { form: { ...body }, auth: "none" });
  }
}

/** `/v1/plugins`. */
export class Plugins {
  constructor(private readonly t: Transport) {}

  /** Installs a plugin (or upgrades it to a newer version); secrets come back as `***`. */
  install(body: InstallPlugin, opts: { idempotencyKey?: string } = {}): Promise<Plugin> {
    return this.t.request("POST", "/plugins/install", { body, headers: idem(opts.idempotencyKey) });
  }

  list(params: PageParams & { status?: PluginStatus } = {}): Promise<Paginated<Plugin>> {
    return this.t.request("GET", "/plugins", { query: { ...params } });
  }

  /** Every installed plugin, across pages. */
  listAll(params: { status?: PluginStatus; limit?: number } = {}): AsyncGenerator<Plugin> {
    return this.t.paginate("/plugins", { ...params });
  }

  /** One installed plugin, by `plg_…`, manifest id or key; secrets come back as `***`. */
  get(id: string): Promise<Plugin> {
    return this.t.request("GET", `/plugins/${enc(id)}`);
  }

  updateStatus(id: string, status: PluginStatus): Promise<Plugin> {
    return this.t.request("PATCH", `/plugins/${enc(id)}/status`, { body: { status } });
  }

  /** Replaces the config; a secret field sent back as `***` keeps its stored value. */
  updateConfig(id: string, config: Record<string, unknown>): Promise<Plugin> {
    return this.t.request("PUT", `/plugins/${enc(id)}/config`, { body: { config } });
  }

  uninstall(id: string): Promise<void> {
    return this.t.request("DELETE", `/plugins/${enc(id)}`);
  }
}

/** `/v1/integrations`. */
export class Integrations {
  constructor(private readonly t: Transport) {}

  create(body: CreateIntegration, opts: { idempotencyKey?: string } = {}): Promise<Integration> {
    return this.t.request("POST", "/integrations", { body, headers: idem(opts.idempotencyKey) });
  }

  list(params: PageParams & { service_type?: string; status?: IntegrationStatus } = {}): Promise<Paginated<Integration>> {
    return this.t.request("GET", "/integrations", { query: { ...params } });
  }

  /** Every integration, across pages. */
  listAll(params: { service_type?: string; status?: IntegrationStatus; limit?: number } = {}): AsyncGenerator<Integration> {
    return this.t.paginate("/integrations", { ...params });
  }

  get(id: string): Promise<Integration> {
    return this.t.request("GET", `/integrations/${enc(id)}`);
  }

  update(id: string, body: UpdateIntegration): Promise<Integration> {
    return this.t.request("PUT", `/integrations/${enc(id)}`, { body });
  }

  delete(id: string): Promise<void> {
    return this.t.request("DELETE", `/integrations/${enc(id)}`);
  }

  /** One real call now (a Slack message, a signed webhook message, a who-am-I call); the outcome. */
  test(id: string): Promise<IntegrationTestResult> {
    return this.t.request("POST", `/integrations/${enc(id)}/test`);
  }

  /** Queues a sync; `get(id)` shows `last_sync_at`, `last_error` and `items_synced` when it ran. */
  sync(id: string): Promise<SyncRun> {
    return this.t.request("POST", `/integrations/${enc(id)}/sync`);
  }

  /** One page of the integration's sync runs, newest first. */
  syncRuns(id: string, params: PageParams = {}): Promise<Paginated<SyncRun>> {
    return this.t.request("GET", `/integrations/${enc(id)}/sync-runs`, { query: { ...params } });
  }

  /** Every sync run of the integration, across pages. */
  syncRunsAll(id: string, params: { limit?: number } = {}): AsyncGenerator<SyncRun> {
    return this.t.paginate(`/integrations/${enc(id)}/sync-runs`, { ...params });
  }
}

/** One data endpoint (`/api/v1/data/{slug}`), with the data key. */
export class DataEndpoint {
  constructor(private readonly t: Transport, readonly slug: string) {}
  private headers(o: DataWriteOptions): Record<string, string> {
    const h: Record<string, string> = {};
    if (o.callback) h["x-webhook-callback"] = o.callback;
    if (o.callbackAuth) h["x-webhook-auth"] = o.callbackAuth;
    if (o.callbackAuthHeader) h["x-webhook-auth-header"] = o.callbackAuthHeader;
    if (o.idempotencyKey) h["idempotency-key"] = o.idempotencyKey;
    return h;
  }
  /** Queues a new record; resolves with its `rec_…` id. */
  create(record: Record<string, unknown>, o: DataWriteOptions = {}): Promise<Queued> {
    return this.t.request("POST", `/api/v1/data/${enc(this.slug)}`, { body: record, auth: "data", headers: this.headers(o) });
  }
  get<T = Record<string, unknown>>(id: string): Promise<T> {
    return this.t.request("GET", `/api/v1/data/${enc(this.slug)}/${enc(id)}`, { auth: "data" });
  }
  replace(id: string, record: Record<string, unknown>, o: DataWriteOptions = {}): Promise<Queued> {
    return this.t.request("PUT", `/api/v1/data/${enc(this.slug)}/${enc(id)}`, { body: record, auth: "data", headers: this.headers(o) });
  }
  delete(id: string, o: DataWriteOptions = {}): Promise<Queued> {
    return this.t.request("DELETE", `/api/v1/data/${enc(this.slug)}/${enc(id)}`, { auth: "data", headers: this.headers(o) });
  }
}

/** The client. */
export class Switchyard {
  readonly apiKeys: ApiKeys;
  readonly webhooks: Webhooks;
  readonly oauth: OAuth;
  readonly plugins: Plugins;
  readonly integrations: Integrations;
  readonly transport: Transport;

  constructor(opts: ClientOptions = {}) {
    this.transport = new Transport(opts);
    this.apiKeys = new ApiKeys(this.transport);
    this.webhooks = new Webhooks(this.transport);
    this.oauth = new OAuth(this.transport);
    this.plugins = new Plugins(this.transport);
    this.integrations = new Integrations(this.transport);
  }

  /** The data endpoint `slug` (needs `dataKey`). */
  data(slug: string): DataEndpoint {
    return new DataEndpoint(this.transport, slug);
  }
}

/** The seed's name for the client. */
export { Switchyard as TaiShangLaoJunAPI };
export default Switchyard;
