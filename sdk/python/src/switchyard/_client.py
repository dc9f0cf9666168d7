"""The sync and async clients: the same resources and methods; the async
ones are awaited. Both send through ``_Core``'s URL, header, error and
retry rules, so they answer alike."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Dict, Iterator, List, Mapping, Optional, cast
from urllib.parse import quote, urlencode

import httpx

from ._errors import SwitchyardError
from ._types import (
    ApiKey,
    ApiKeyUsage,
    Integration,
    IntegrationStatus,
    IntegrationTestResult,
    OAuthApp,
    Page,
    Permission,
    Plugin,
    PluginStatus,
    Queued,
    RetryResult,
    SyncRun,
    TokenResponse,
    Webhook,
    WebhookLog,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"

def _q(v: str) -> str:
    return quote(v, safe="")


def _drop_none(d: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _idem(key: Optional[str]) -> Dict[str, str]:
    return {"idempotency-key": key} if key else {}


class _Core:
    """What both clients share: URLs, headers, errors, retry waits."""

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        data_key: Optional[str] = None,
        max_retries: int = 2,
        max_retry_wait: float = 60.0,
        timeout: float = 30.0,
    ) -> None:
        self.api_key = api_key
        self.data_key = data_key
        self.base_url = base_url.rstrip("/")
        #: The server's root (what precedes ``/v1``), for ``/api/v1/data``.
        self.root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.timeout = timeout

    def _url(self, path: str) -> str:
        return (self.root if path.startswith("/api/") else self.base_url) + path

    def _headers(self, opts: Dict[str, Any]) -> Dict[str, str]:
        h = {"accept": "application/json", **opts.get("headers", {})}
        auth = opts.get("auth", "key")
        token = None if auth == "none" else self.data_key if auth == "data" else self.api_key
        if token:
            h["authorization"] = f"Bearer {token}"
        return h

    def _wait(self, resp: httpx.Response) -> float:
        try:
            after = float(resp.headers.get("retry-after", "1"))
        except ValueError:
            after = 1.0
        return max(0.0, min(after, self.max_retry_wait))

    @staticmethod
    def _result(resp: httpx.Response) -> Any:
        body: Any = None
        if resp.content:
            try:
                body = resp.json()
            except ValueError:
                body = resp.text
        if resp.is_error:
            raise SwitchyardError.from_response(resp.status_code, body, resp.headers)
        return body

    @staticmethod
    def _kwargs(opts: Dict[str, Any]) -> Dict[str, Any]:
        kw: Dict[str, Any] = {}
        if "json" in opts:
            kw["json"] = opts["json"]
        if "form" in opts:
            kw["data"] = _drop_none(opts["form"])
        if "params" in opts:
            kw["params"] = _drop_none(opts["params"])
        return kw


# ---------------------------------------------------------------- requests


def _page(page: Optional[int], limit: Optional[int], **more: Any) -> Dict[str, Any]:
    return {"page": page, "limit": limit, **more}


def _bool(v: Optional[bool]) -> Optional[str]:
    return None if v is None else ("true" if v else "false")


# ------------------------------------------------------------------ sync


class Switchyard(_Core):
    """The synchronous client.

    ``Switchyard(api_key="sk_test_…", base_url="http://127.0.0.1:8080/v1")``;
    ``data_key="tm_test_…"`` for :meth:`data`.
    """

    def __init__(self, api_key: Optional[str] = None, base_url: str = DEFAULT_BASE_URL, **kw: Any) -> None:
        http = kw.pop("http_client", None)
        super().__init__(api_key, base_url, **kw)
        self._http = http or httpx.Client(timeout=self.timeout)
        self.api_keys = ApiKeys(self)
        self.plugins = Plugins(self)
        self.integrations = Integrations(self)
        self.webhooks = Webhooks(self)
        self.oauth = OAuth(self)

    def _send(self, method: str, path: str, opts: Dict[str, Any]) -> Any:
        for attempt in range(self.max_retries + 1):
            resp = self._http.request(method, self._url(path), headers=self._headers(opts), **self._kwargs(opts))
            if resp.status_code == 429 and attempt < self.max_retries:
                time.sleep(self._wait(resp))
                continue
            return self._result(resp)

    def _all(self, path: str, params: Dict[str, Any]) -> Iterator[Any]:
        page = 1
        while True:
            r = self._send("GET", path, {"params": {**params, "page": page, "limit": params.get("limit") or 100}})
            yield from r["data"]
            if page >= r["pagination"]["total_pages"]:
                return
            page += 1

    def data(self, slug: str) -> "DataEndpoint":
        """The data endpoint ``slug`` (needs ``data_key``)."""
        return DataEndpoint(self, slug)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Switchyard":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ApiKeys:
    """``/v1/api-keys``."""

    def __init__(self, c: Switchyard) -> None:
        self._c = c

    def create(
        self,
        *,
        name: str,
        description: Optional[str] = None,
        permissions: Optional[List[Permission]] = None,
        expires_at: Optional[str] = None,
        environment: Optional[str] = None,
        idempotency_key: Optional[str] = None,
    ) -> ApiKey:
        body = _drop_none(dict(name=name, description=description, permissions=permissions, expires_at=expires_at, environment=environment))
        return cast(ApiKey, self._c._send("POST", "/api-keys", {"json": body, "headers": _idem(idempotency_key)}))

    def list(self, *, page: Optional[int] = None, limit: Optional[int] = None, enabled: Optional[bool] = None) -> Page[ApiKey]:
        return cast(Page[ApiKey], self._c._send("GET", "/api-keys", {"params": _page(page, limit, enabled=_bool(enabled))}))

    def list_all(self, *, limit: Optional[int] = None, enabled: Optional[bool] = None) -> Iterator[ApiKey]:
        """Every key, page after page."""
        return self._c._all("/api-keys", {"limit": limit, "enabled": _bool(enabled)})

    def get(self, id: str) -> ApiKey:
        return cast(ApiKey, self._c._send("GET", f"/api-keys/{_q(id)}", {}))

    def update(self, id: str, **changes: Any) -> ApiKey:
        """``name``, ``description``, ``permissions``, ``expires_at`` (``None`` removes it), ``enabled``."""
        return cast(ApiKey, self._c._send("PUT", f"/api-keys/{_q(id)}", {"json": changes}))

    def delete(self, id: str) -> None:
        self._c._send("DELETE", f"/api-keys/{_q(id)}", {})

    def usage(self, id: str, *, days: Optional[int] = None) -> ApiKeyUsage:
        return cast(ApiKeyUsage, self._c._send("GET", f"/api-keys/{_q(id)}/usage", {"params": {"days": days}}))


class Plugins:
    """``/v1/plugins``."""

    def __init__(self, c: Switchyard) -> None:
        self._c = c

    def install(self, *, plugin_id: str, config: Optional[Dict[str, Any]] = None, source: Optional[str] = None,
                idempotency_key: Optional[str] = None) -> Plugin:
        """Installs a plugin (or upgrades it to a newer version); secrets come back as ``***``."""
        body = _drop_none(dict(plugin_id=plugin_id, source=source, config=config))
        return cast(Plugin, self._c._send("POST", "/plugins/install", {"json": body, "headers": _idem(idempotency_key)}))

    def list(self, *, status: Optional[PluginStatus] = None, page: Optional[int] = None, limit: Optional[int] = None) -> Page[Plugin]:
        return cast(Page[Plugin], self._c._send("GET", "/plugins", {"params": _page(page, limit, status=status)}))

    def list_all(self, *, status: Optional[PluginStatus] = None, limit: Optional[int] = None) -> Iterator[Plugin]:
        return self._c._all("/plugins", {"limit": limit, "status": status})

    def get(self, id: str) -> Plugin:
        """One installed plugin, by ``plg_…``, manifest id or key; secrets come back as ``***``."""
        return cast(Plugin, self._c._send("GET", f"/plugins/{_q(id)}", {}))

    def update_status(self, id: str, status: PluginStatus) -> Plugin:
        return cast(Plugin, self._c._send("PATCH", f"/plugins/{_q(id)}/status", {"json": {"status": status}}))

    def update_config(self, id: str, config: Dict[str, Any]) -> Plugin:
        """Replaces the config; a secret field sent back as ``***`` keeps its stored value."""
        return cast(Plugin, self._c._send("PUT", f"/plugins/{_q(id)}/config", {"json": {"config": config}}))

    def uninstall(self, id: str) -> None:
        self._c._send("DELETE", f"/plugins/{_q(id)}", {})


class Integrations:
    """``/v1/integrations``."""

    def __init__(self, c: Switchyard) -> None:
        self._c = c

    def create(self, *, name: str, service_type: str, config: Optional[Dict[str, Any]] = None,
               settings: Optional[Dict[str, Any]] = None, idempotency_key: Optional[str] = None) -> Integration:
        """``settings``: ``{"auto_sync": bool, "sync_interval": seconds}``."""
        body = _drop_none(dict(name=name, service_type=service_type, config=config, settings=settings))
        return cast(Integration, self._c._send("POST", "/integrations", {"json": body, "headers": _idem(idempotency_key)}))

    def list(self, *, service_type: Optional[str] = None, status: Optional[IntegrationStatus] = None,
             page: Optional[int] = None, limit: Optional[int] = None) -> Page[Integration]:
        params = _page(page, limit, service_type=service_type, status=status)
        return cast(Page[Integration], self._c._send("GET", "/integrations", {"params": params}))

    def list_all(self, *, service_type: Optional[str] = None, status: Optional[IntegrationStatus] = None,
                 limit: Optional[int] = None) -> Iterator[Integration]:
        return self._c._all("/integrations", {"limit": limit, "service_type": service_type, "status": status})

    def get(self, id: str) -> Integration:
        return cast(Integration, self._c._send("GET", f"/integrations/{_q(id)}", {}))

    def update(self, id: str, **changes: Any) -> Integration:
        """``name``, ``config`` (a secret sent back as ``***`` is kept), ``settings``, ``status``."""
        return cast(Integration, self._c._send("PUT", f"/integrations/{_q(id)}", {"json": changes}))

    def delete(self, id: str) -> None:
        self._c._send("DELETE", f"/integrations/{_q(id)}", {})

    def test(self, id: str) -> IntegrationTestResult:
        """One real call now; the outcome, whatever the service answered."""
        return cast(IntegrationTestResult, self._c._send("POST", f"/integrations/{_q(id)}/test", {}))

    def sync(self, id: str) -> SyncRun:
        """Queues a sync; :meth:`get` shows ``last_sync_at``, ``last_error`` and ``items_synced`` when it ran."""
        return cast(SyncRun, self._c._send("POST", f"/integrations/{_q(id)}/sync", {}))

    def sync_runs(self, id: str, *, page: Optional[int] = None, limit: Optional[int] = None) -> Page[SyncRun]:
        """One page of the integration's sync runs, newest first."""
        return cast(Page[SyncRun], self._c._send("GET", f"/integrations/{_q(id)}/sync-runs", {"params": _page(page, limit)}))

    def sync_runs_all(self, id: str, *, limit: Optional[int] = None) -> Iterator[SyncRun]:
        return self._c._all(f"/integrations/{_q(id)}/sync-runs", {"limit": limit})


class Webhooks:
    """``/v1/webhooks``."""

    def __init__(self, c: Switchyard) -> None:
        self._c = c

    def create(self, *, url: str, events: List[str], idempotency_key: Optional[str] = None, **fields: Any) -> Webhook:
        """Also ``secret``, ``headers``, ``active``, ``description``, ``rate_limit_per_minute``, ``timeout_seconds``."""
        body = {"url": url, "events": events, **fields}
        return cast(Webhook, self._c._send("POST", "/webhooks", {"json": body, "headers": _idem(idempotency_key)}))

    def list(self, *, page: Optional[int] = None, limit: Optional[int] = None, active: Optional[bool] = None) -> Page[Webhook]:
        return cast(Page[Webhook], self._c._send("GET", "/webhooks", {"params": _page(page, limit, active=_bool(active))}))

    def list_all(self, *, limit: Optional[int] = None, active: Optional[bool] = None) -> Iterator[Webhook]:
        return self._c._all("/webhooks", {"limit": limit, "active": _bool(active)})

    def get(self, id: str) -> Webhook:
        return cast(Webhook, self._c._send("GET", f"/webhooks/{_q(id)}", {}))

    def update(self, id: str, **changes: Any) -> Webhook:
        return cast(Webhook, self._c._send("PUT", f"/webhooks/{_q(id)}", {"json": changes}))

    def delete(self, id: str) -> None:
        self._c._send("DELETE", f"/webhooks/{_q(id)}", {})

    def test(self, id: str) -> WebhookLog:
        """Sends a signed ``webhook.test`` message now; the attempt, whatever the receiver answered."""
        return cast(WebhookLog, self._c._send("POST", f"/webhooks/{_q(id)}/test", {}))

    def logs(self, id: str, *, page: Optional[int] = None, limit: Optional[int] = None) -> Page[WebhookLog]:
        return cast(Page[WebhookLog], self._c._send("GET", f"/webhooks/{_q(id)}/logs", {"params": _page(page, limit)}))

    def logs_all(self, id: str, *, limit: Optional[int] = None) -> Iterator[WebhookLog]:
        return self._c._all(f"/webhooks/{_q(id)}/logs", {"limit": limit})

    def retry(self, id: str) -> RetryResult:
        """Sends every failed message of the webhook again."""
        return cast(RetryResult, self._c._send("POST", f"/webhooks/{_q(id)}/retry", {}))


def _authorize_url(c: _Core, client_id: str, redirect_uri: str, **params: Optional[str]) -> str:
    q = _drop_none({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, **params})
    return f"{c.base_url}/oauth/authorize?{urlencode(q)}"


class OAuth:
    """``/v1/oauth``: apps and the authorization server."""

    def __init__(self, c: Switchyard) -> None:
        self._c = c

    def create_app(
        self,
        *,
        name: str,
        redirect_uris: List[str],
        scopes: List[Permission],
        description: Optional[str] = None,
        confidential: Optional[bool] = None,
    ) -> OAuthApp:
        body = _drop_none(dict(name=name, redirect_uris=redirect_uris, scopes=scopes, description=description, confidential=confidential))
        return cast(OAuthApp, self._c._send("POST", "/oauth/apps", {"json": body}))

    def list_apps(self, *, page: Optional[int] = None, limit: Optional[int] = None) -> Page[OAuthApp]:
        return cast(Page[OAuthApp], self._c._send("GET", "/oauth/apps", {"params": _page(page, limit)}))

    def get_app(self, id: str) -> OAuthApp:
        return cast(OAuthApp, self._c._send("GET", f"/oauth/apps/{_q(id)}", {}))

    def delete_app(self, id: str) -> None:
        self._c._send("DELETE", f"/oauth/apps/{_q(id)}", {})

    def authorize_url(self, *, client_id: str, redirect_uri: str, **params: Optional[str]) -> str:
        """Where to send the user's browser: ``scope``, ``state``, ``code_challenge``, ``code_challenge_method``."""
        return _authorize_url(self._c, client_id, redirect_uri, **params)

    def token(self, *, grant_type: str, **params: Optional[str]) -> TokenResponse:
        """``authorization_code``, ``refresh_token`` or ``client_credentials``."""
        return cast(TokenResponse, self._c._send("POST", "/oauth/token", {"form": {"grant_type": grant_type, **params}, "auth": "none"}))

    def revoke(self, *, token: str, client_id: str, client_secret: Optional[str] = None) -> None:
        form = {"token": token, "client_id": client_id, "client_secret": client_secret}
        self._c._send("POST", "/oauth/revoke", {"form": form, "auth": "none"})


def _data_headers(callback: Optional[str], callback_auth: Optional[str], callback_auth_header: Optional[str], idempotency_key: Optional[str]) -> Dict[str, str]:
    h = _drop_none(
        {
            "x-webhook-callback": callback,
            "x-webhook-auth": callback_auth,
            "x-webhook-auth-header": callback_auth_header,
            "idempotency-key": idempotency_key,
        }
    )
    return cast(Dict[str, str], h)


class DataEndpoint:
    """One data endpoint (``/api/v1/data/{slug}``), with the data key."""

    def __init__(self, c: Switchyard, slug: str) -> None:
        self._c = c
        self._path = f"/api/v1/data/{_q(slug)}"

    def create(self, record: Dict[str, Any], *, callback: Optional[str] = None, callback_auth: Optional[str] = None,
               callback_auth_header: Optional[str] = None, idempotency_key: Optional[str] = None) -> Queued:
        h = _data_headers(callback, callback_auth, callback_auth_header, idempotency_key)
        return cast(Queued, self._c._send("POST", self._path, {"json": record, "auth": "data", "headers": h}))

    def get(self, id: str) -> Dict[str, Any]:
        return cast(Dict[str, Any], self._c._send("GET", f"{self._path}/{_q(id)}", {"auth": "data"}))

    def replace(self, id: str, record: Dict[str, Any], *, idempotency_key: Optional[str] = None) -> Queued:
        h = _idem(idempotency_key)
        return cast(Queued, self._c._send("PUT", f"{self._path}/{_q(id)}", {"json": record, "auth": "data", "headers": h}))

    def delete(self, id: str, *, idempotency_key: Optional[str] = None) -> Queued:
        h = _idem(idempotency_key)
        return cast(Queued, self._c._send("DELETE", f"{self._path}/{_q(id)}", {"auth": "data", "headers": h}))


# ----------------------------------------------------------------- async


class AsyncSwitchyard(_Core):
    """The asynchronous client: the same surface, every call awaited."""

    def __init__(self, api_key: Optional[str] = None, base_url: str = DEFAULT_BASE_URL, **kw: Any) -> None:
        http = kw.pop("http_client", None)
        super().__init__(api_key, base_url, **kw)
        self._http = http or httpx.AsyncClient(timeout=self.timeout)
        self.api_keys = AsyncApiKeys(self)
        self.plugins = AsyncPlugins(self)
        self.integrations = AsyncIntegrations(self)
        self.webhooks = AsyncWebhooks(self)
        self.oauth = AsyncOAuth(self)

    async def _send(self, method: str, path: str, opts: Dict[str, Any]) -> Any:
        for attempt in range(self.max_retries + 1):
            resp = await self._http.request(method, self._url(path), headers=self._headers(opts), **self._kwargs(opts))
            if resp.status_code == 429 and attempt < self.max_retries:
                await asyncio.sleep(self._wait(resp))
                continue
            return self._result(resp)

    async def _all(self, path: str, params: Dict[str, Any]) -> AsyncIterator[Any]:
        page = 1
        while True:
            r = await self._send("GET", path, {"params": {**params, "page": page, "limit": params.get("limit") or 100}})
            for item in r["data"]:
                yield item
            if page >= r["pagination"]["total_pages"]:
                return
            page += 1

    def data(self, slug: str) -> "AsyncDataEndpoint":
        return AsyncDataEndpoint(self, slug)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncSwitchyard":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class AsyncApiKeys:
    """``/v1/api-keys``."""

    def __init__(self, c: AsyncSwitchyard) -> None:
        self._c = c

    async def create(self, *, name: str, description: Optional[str] = None, permissions: Optional[List[Permission]] = None,
                     expires_at: Optional[str] = None, environment: Optional[str] = None,
                     idempotency_key: Optional[str] = None) -> ApiKey:
        body = _drop_none(dict(name=name, description=description, permissions=permissions, expires_at=expires_at, environment=environment))
        return cast(ApiKey, await self._c._send("POST", "/api-keys", {"json": body, "headers": _idem(idempotency_key)}))

    async def list(self, *, page: Optional[int] = None, limit: Optional[int] = None, enabled: Optional[bool] = None) -> Page[ApiKey]:
        return cast(Page[ApiKey], await self._c._send("GET", "/api-keys", {"params": _page(page, limit, enabled=_bool(enabled))}))

    def list_all(self, *, limit: Optional[int] = None, enabled: Optional[bool] = None) -> AsyncIterator[ApiKey]:
        return self._c._all("/api-keys", {"limit": limit, "enabled": _bool(enabled)})

    async def get(self, id: str) -> ApiKey:
        return cast(ApiKey, await self._c._send("GET", f"/api-keys/{_q(id)}", {}))

    async def update(self, id: str, **changes: Any) -> ApiKey:
        return cast(ApiKey, await self._c._send("PUT", f"/api-keys/{_q(id)}", {"json": changes}))

    async def delete(self, id: str) -> None:
        await self._c._send("DELETE", f"/api-keys/{_q(id)}", {})

    async def usage(self, id: str, *, days: Optional[int] = None) -> ApiKeyUsage:
        return cast(ApiKeyUsage, await self._c._send("GET", f"/api-keys/{_q(id)}/usage", {"params": {"days": days}}))


class AsyncPlugins:
    """``/v1/plugins``."""

    def __init__(self, c: AsyncSwitchyard) -> None:
        self._c = c

    async def install(self, *, plugin_id: str, config: Optional[Dict[str, Any]] = None, source: Optional[str] = None,
                      idempotency_key: Optional[str] = None) -> Plugin:
        body = _drop_none(dict(plugin_id=plugin_id, source=source, config=config))
        return cast(Plugin, await self._c._send("POST", "/plugins/install", {"json": body, "headers": _idem(idempotency_key)}))

    async def list(self, *, status: Optional[PluginStatus] = None, page: Optional[int] = None,
                   limit: Optional[int] = None) -> Page[Plugin]:
        return cast(Page[Plugin], await self._c._send("GET", "/plugins", {"params": _page(page, limit, status=status)}))

    def list_all(self, *, status: Optional[PluginStatus] = None, limit: Optional[int] = None) -> AsyncIterator[Plugin]:
        return self._c._all("/plugins", {"limit": limit, "status": status})

    async def get(self, id: str) -> Plugin:
        return cast(Plugin, await self._c._send("GET", f"/plugins/{_q(id)}", {}))

    async def update_status(self, id: str, status: PluginStatus) -> Plugin:
        return cast(Plugin, await self._c._send("PATCH", f"/plugins/{_q(id)}/status", {"json": {"status": status}}))

    async def update_config(self, id: str, config: Dict[str, Any]) -> Plugin:
        return cast(Plugin, await self._c._send("PUT", f"/plugins/{_q(id)}/config", {"json": {"config": config}}))

    async def uninstall(self, id: str) -> None:
        await self._c._send("DELETE", f"/plugins/{_q(id)}", {})


class AsyncIntegrations:
    """``/v1/integrations``."""

    def __init__(self, c: AsyncSwitchyard) -> None:
        self._c = c

    async def create(self, *, name: str, service_type: str, config: Optional[Dict[str, Any]] = None,
                     settings: Optional[Dict[str, Any]] = None, idempotency_key: Optional[str] = None) -> Integration:
        body = _drop_none(dict(name=name, service_type=service_type, config=config, settings=settings))
        return cast(Integration, await self._c._send("POST", "/integrations", {"json": body, "headers": _idem(idempotency_key)}))

    async def list(self, *, service_type: Optional[str] = None, status: Optional[IntegrationStatus] = None,
                   page: Optional[int] = None, limit: Optional[int] = None) -> Page[Integration]:
        params = _page(page, limit, service_type=service_type, status=status)
        return cast(Page[Integration], await self._c._send("GET", "/integrations", {"params": params}))

    def list_all(self, *, service_type: Optional[str] = None, status: Optional[IntegrationStatus] = None,
                 limit: Optional[int] = None) -> AsyncIterator[Integration]:
        return self._c._all("/integrations", {"limit": limit, "service_type": service_type, "status": status})

    async def get(self, id: str) -> Integration:
        return cast(Integration, await self._c._send("GET", f"/integrations/{_q(id)}", {}))

    async def update(self, id: str, **changes: Any) -> Integration:
        return cast(Integration, await self._c._send("PUT", f"/integrations/{_q(id)}", {"json": changes}))

    async def delete(self, id: str) -> None:
        await self._c._send("DELETE", f"/integrations/{_q(id)}", {})

    async def test(self, id: str) -> IntegrationTestResult:
        return cast(IntegrationTestResult, await self._c._send("POST", f"/integrations/{_q(id)}/test", {}))

    async def sync(self, id: str) -> SyncRun:
        return cast(SyncRun, await self._c._send("POST", f"/integrations/{_q(id)}/sync", {}))

    async def sync_runs(self, id: str, *, page: Optional[int] = None, limit: Optional[int] = None) -> Page[SyncRun]:
        params = _page(page, limit)
        return cast(Page[SyncRun], await self._c._send("GET", f"/integrations/{_q(id)}/sync-runs", {"params": params}))

    def sync_runs_all(self, id: str, *, limit: Optional[int] = None) -> AsyncIterator[SyncRun]:
        return self._c._all(f"/integrations/{_q(id)}/sync-runs", {"limit": limit})


class AsyncWebhooks:
    """``/v1/webhooks``."""

    def __init__(self, c: AsyncSwitchyard) -> None:
        self._c = c

    async def create(self, *, url: str, events: List[str], idempotency_key: Optional[str] = None, **fields: Any) -> Webhook:
        body = {"url": url, "events": events, **fields}
        return cast(Webhook, await self._c._send("POST", "/webhooks", {"json": body, "headers": _idem(idempotency_key)}))

    async def list(self, *, page: Optional[int] = None, limit: Optional[int] = None, active: Optional[bool] = None) -> Page[Webhook]:
        return cast(Page[Webhook], await self._c._send("GET", "/webhooks", {"params": _page(page, limit, active=_bool(active))}))

    def list_all(self, *, limit: Optional[int] = None, active: Optional[bool] = None) -> AsyncIterator[Webhook]:
        return self._c._all("/webhooks", {"limit": limit, "active": _bool(active)})

    async def get(self, id: str) -> Webhook:
        return cast(Webhook, await self._c._send("GET", f"/webhooks/{_q(id)}", {}))

    async def update(self, id: str, **changes: Any) -> Webhook:
        return cast(Webhook, await self._c._send("PUT", f"/webhooks/{_q(id)}", {"json": changes}))

    async def delete(self, id: str) -> None:
        await self._c._send("DELETE", f"/webhooks/{_q(id)}", {})

    async def test(self, id: str) -> WebhookLog:
        return cast(WebhookLog, await self._c._send("POST", f"/webhooks/{_q(id)}/test", {}))

    async def logs(self, id: str, *, page: Optional[int] = None, limit: Optional[int] = None) -> Page[WebhookLog]:
        return cast(Page[WebhookLog], await self._c._send("GET", f"/webhooks/{_q(id)}/logs", {"params": _page(page, limit)}))

    def logs_all(self, id: str, *, limit: Optional[int] = None) -> AsyncIterator[WebhookLog]:
        return self._c._all(f"/webhooks/{_q(id)}/logs", {"limit": limit})

    async def retry(self, id: str) -> RetryResult:
        return cast(RetryResult, await self._c._send("POST", f"/webhooks/{_q(id)}/retry", {}))


class AsyncOAuth:
    """``/v1/oauth``."""

    def __init__(self, c: AsyncSwitchyard) -> None:
        self._c = c

    async def create_app(self, *, name: str, redirect_uris: List[str], scopes: List[Permission],
                         description: Optional[str] = None, confidential: Optional[bool] = None) -> OAuthApp:
        body = _drop_none(dict(name=name, redirect_uris=redirect_uris, scopes=scopes, description=description, confidential=confidential))
        return cast(OAuthApp, await self._c._send("POST", "/oauth/apps", {"json": body}))

    async def list_apps(self, *, page: Optional[int] = None, limit: Optional[int] = None) -> Page[OAuthApp]:
        return cast(Page[OAuthApp], await self._c._send("GET", "/oauth/apps", {"params": _page(page, limit)}))

    async def get_app(self, id: str) -> OAuthApp:
        return cast(OAuthApp, await self._c._send("GET", f"/oauth/apps/{_q(id)}", {}))

    async def delete_app(self, id: str) -> None:
        await self._c._send("DELETE", f"/oauth/apps/{_q(id)}", {})

    def authorize_url(self, *, client_id: str, redirect_uri: str, **params: Optional[str]) -> str:
        return _authorize_url(self._c, client_id, redirect_uri, **params)

    async def token(self, *, grant_type: str, **params: Optional[str]) -> TokenResponse:
        return cast(TokenResponse, await self._c._send("POST", "/oauth/token", {"form": {"grant_type": grant_type, **params}, "auth": "none"}))

    async def revoke(self, *, token: str, client_id: str, client_secret: Optional[str] = None) -> None:
        form = {"token": token, "client_id": client_id, "client_secret": client_secret}
        await self._c._send("POST", "/oauth/revoke", {"form": form, "auth": "none"})


class AsyncDataEndpoint:
    """One data endpoint, asynchronously."""

    def __init__(self, c: AsyncSwitchyard, slug: str) -> None:
        self._c = c
        self._path = f"/api/v1/data/{_q(slug)}"

    async def create(self, record: Dict[str, Any], *, callback: Optional[str] = None, callback_auth: Optional[str] = None,
                     callback_auth_header: Optional[str] = None, idempotency_key: Optional[str] = None) -> Queued:
        h = _data_headers(callback, callback_auth, callback_auth_header, idempotency_key)
        return cast(Queued, await self._c._send("POST", self._path, {"json": record, "auth": "data", "headers": h}))

    async def get(self, id: str) -> Dict[str, Any]:
        return cast(Dict[str, Any], await self._c._send("GET", f"{self._path}/{_q(id)}", {"auth": "data"}))

    async def replace(self, id: str, record: Dict[str, Any], *, idempotency_key: Optional[str] = None) -> Queued:
        return cast(Queued, await self._c._send("PUT", f"{self._path}/{_q(id)}", {"json": record, "auth": "data", "headers": _idem(idempotency_key)}))

    async def delete(self, id: str, *, idempotency_key: Optional[str] = None) -> Queued:
        return cast(Queued, await self._c._send("DELETE", f"{self._path}/{_q(id)}", {"auth": "data", "headers": _idem(idempotency_key)}))
