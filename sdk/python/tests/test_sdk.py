"""The SDK against a real server: every resource, sync and async,
pagination helpers, typed errors, 429 retries and webhook verification."""

from __future__ import annotations

import asyncio
import json
import http.server
import threading
import time

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from switchyard import AsyncSwitchyard, Switchyard, SwitchyardError, TaiShangLaoJunAPI, verify_webhook


class _Receiver:
    """A local HTTP receiver answering ``status`` to every POST."""

    def __init__(self, status: int = 200, headers: dict | None = None, body: bytes = b"") -> None:
        self.hits: list[tuple[dict, bytes]] = []
        self.status = status
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                outer.hits.append(({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(n)))
                status, extra, payload = outer.reply(len(outer.hits))
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET = _answer

            def log_message(self, *a) -> None:
                pass

        self.reply = lambda n: (status, headers or {}, body)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def close(self) -> None:
        self.httpd.shutdown()


def test_the_seeds_example_works_as_written(server):
    api = TaiShangLaoJunAPI(api_key=server.api_key, base_url=server.base_url)
    key = api.api_keys.create(name="我的API密钥", permissions=["read", "write"])
    assert key["key"].startswith("sk_test_") and key["prefix"] == key["key"][:12]
    assert key["permissions"] == ["read", "write"]
    api.api_keys.delete(key["id"])

    # 创建集成
    integration = api.integrations.create(
        name='Slack集成',
        service_type='slack',
        config={
            'webhook_url': 'https://hooks.slack.com/services/...',
            'channel': '#general'
        }
    )
    assert (integration["config"]["webhook_url"], integration["config"]["channel"]) == ("***", "#general")
    assert integration["status"] == "active"
    api.integrations.delete(integration["id"])


def test_plugins_sync(server):
    with Switchyard(server.api_key, server.base_url) as api:
        with pytest.raises(SwitchyardError) as bad:
            api.plugins.install(plugin_id="plugin_weather_v1.0.0", config={"api_key": "", "default_city": 7})
        assert bad.value.status == 400
        assert sorted(e["field"] for e in bad.value.errors) == ["config.api_key", "config.default_city"]
        w = api.plugins.install(plugin_id="plugin_weather_v1.0.0", config={"api_key": "weather_api_key"})
        assert (w["config"]["api_key"], w["config"]["default_city"]) == ("***", "Beijing")
        c = api.plugins.install(plugin_id="plugin_chat_notifier_v1.0.0", source="marketplace",
                                config={"webhook_url": "http://127.0.0.1:9/hook", "events": ["plugin.installed"]})
        page = api.plugins.list(status="active", page=1, limit=1)
        assert page["pagination"] == {"page": 1, "limit": 1, "total": 2, "total_pages": 2}
        assert [p["id"] for p in api.plugins.list_all(limit=1)] == [c["id"], w["id"]]
        assert api.plugins.update_status(w["id"], "inactive")["status"] == "inactive"
        assert [p["id"] for p in api.plugins.list(status="inactive")["data"]] == [w["id"]]
        one = api.plugins.get(w["id"])
        assert (one["id"], one["status"], one["config"]["api_key"]) == (w["id"], "inactive", "***")
        assert api.plugins.get("weather")["id"] == w["id"], "by key"
        assert "weather_api_key" not in json.dumps(one)
        u = api.plugins.update_config(w["id"], {"api_key": "***", "default_city": "Paris"})
        assert (u["config"]["api_key"], u["config"]["default_city"]) == ("***", "Paris")
        api.plugins.uninstall(w["id"])
        api.plugins.uninstall("plugin_chat_notifier_v1.0.0")
        with pytest.raises(SwitchyardError) as gone:
            api.plugins.uninstall(w["id"])
        assert gone.value.code == "NOT_FOUND"


def test_integrations_sync(server):
    slack = _Receiver(200)
    with Switchyard(server.api_key, server.base_url) as api:
        with pytest.raises(SwitchyardError) as bad:
            api.integrations.create(name="S", service_type="fax")
        assert bad.value.details["field"] == "service_type"
        i = api.integrations.create(name="Slack集成", service_type="slack",
                                    config={"webhook_url": slack.url + "/services/SECRET", "channel": "#general",
                                            "events": ["api_key.created"]},
                                    settings={"auto_sync": False, "sync_interval": 300})
        assert i["config"]["webhook_url"] == "***" and i["settings"] == {"auto_sync": False, "sync_interval": 300}
        assert api.integrations.list(service_type="slack", status="active")["pagination"]["total"] == 1
        assert i["id"] in [x["id"] for x in api.integrations.list_all(limit=1)]
        assert api.integrations.get(i["id"])["name"] == "Slack集成"
        t = api.integrations.test(i["id"])
        assert (t["ok"], t["status_code"]) == (True, 200)
        assert json.loads(slack.hits[0][1])["channel"] == "#general"

        k = api.api_keys.create(name="synced")
        time.sleep(1.2)
        assert api.integrations.sync(i["id"])["status"] == "queued"
        for _ in range(300):
            now = api.integrations.get(i["id"])
            if now["last_sync_at"]:
                break
            time.sleep(0.1)
        assert now["last_sync_at"] and now["items_synced"] >= 1, now
        runs = api.integrations.sync_runs(i["id"], page=1, limit=1)
        assert runs["pagination"]["total"] >= 1 and runs["data"][0]["integration_id"] == i["id"], runs
        assert runs["data"][0]["status"] == "succeeded" and runs["data"][0]["trigger"] == "manual", runs
        assert len(list(api.integrations.sync_runs_all(i["id"], limit=1))) == runs["pagination"]["total"]
        api.api_keys.delete(k["id"])

        u = api.integrations.update(i["id"], status="inactive", config={"webhook_url": "***", "channel": "#ops"})
        assert (u["status"], u["config"]["webhook_url"], u["config"]["channel"]) == ("inactive", "***", "#ops")
        with pytest.raises(SwitchyardError) as refused:
            api.integrations.sync(i["id"])
        assert refused.value.status == 400
        api.integrations.delete(i["id"])
        with pytest.raises(SwitchyardError) as gone:
            api.integrations.get(i["id"])
        assert gone.value.code == "NOT_FOUND"
        with pytest.raises(SwitchyardError) as gone:
            api.integrations.sync_runs(i["id"])
        assert gone.value.code == "NOT_FOUND"
    slack.close()


def test_api_keys_sync(server):
    with Switchyard(server.api_key, server.base_url) as api:
        made = [api.api_keys.create(name=f"k{i}", description="py") for i in range(3)]
        page = api.api_keys.list(page=1, limit=2)
        assert len(page["data"]) == 2 and page["pagination"]["total_pages"] >= 2
        assert "key" not in page["data"][0]
        every = [k["id"] for k in api.api_keys.list_all(limit=1)]
        assert len(every) == page["pagination"]["total"] == len(set(every))
        k = made[0]
        assert api.api_keys.get(k["id"])["name"] == "k0"
        upd = api.api_keys.update(k["id"], name="renamed", enabled=False, expires_at=None)
        assert (upd["name"], upd["enabled"], upd["expires_at"]) == ("renamed", False, None)
        usage = api.api_keys.usage(k["id"], days=7)
        assert usage["api_key_id"] == k["id"]
        for m in made:
            api.api_keys.delete(m["id"])
        with pytest.raises(SwitchyardError) as e:
            api.api_keys.get(k["id"])
        assert (e.value.status, e.value.code) == (404, "NOT_FOUND")


def test_errors_carry_code_and_details(server):
    api = Switchyard(server.api_key, server.base_url)
    with pytest.raises(SwitchyardError) as e:
        api.api_keys.create(name="x", expires_at="2001-01-01T00:00:00Z")
    assert e.value.code == "INVALID_REQUEST" and e.value.details == {"field": "expires_at", "reason": "Must be in the future"}
    with pytest.raises(SwitchyardError) as e:
        Switchyard("sk_test_wrong", server.base_url).webhooks.list()
    assert (e.value.status, e.value.code) == (401, "UNAUTHORIZED")


def test_webhooks_sync(server):
    r = _Receiver(200)
    api = Switchyard(server.api_key, server.base_url)
    try:
        w = api.webhooks.create(url=r.url, events=["api_key.created"], headers={"X-Custom-Header": "value"})
        assert w["secret"].startswith("whsec_") and w["headers"] == {"X-Custom-Header": "***"}
        log = api.webhooks.test(w["id"])
        assert (log["status"], log["response_code"], log["event"]) == ("success", 200, "webhook.test")
        headers, body = r.hits[0]
        assert headers["x-custom-header"] == "value"
        assert verify_webhook(body, headers, w["secret"])["event"] == "webhook.test"
        with pytest.raises(WebhookVerificationError):
            verify_webhook(body + b" ", headers, w["secret"])
        logs = api.webhooks.logs(w["id"], page=1, limit=50)
        assert logs["data"][0]["id"] == log["id"]
        assert len(list(api.webhooks.logs_all(w["id"]))) == logs["pagination"]["total"]
        assert api.webhooks.retry(w["id"]) == {"retried": 0}
        assert api.webhooks.update(w["id"], active=False)["active"] is False
        assert api.webhooks.list(active=False)["pagination"]["total"] == 1
        api.webhooks.delete(w["id"])
        with pytest.raises(SwitchyardError) as e:
            api.webhooks.get(w["id"])
        assert e.value.code == "NOT_FOUND"
    finally:
        r.close()


def test_oauth_sync(server):
    api = Switchyard(server.api_key, server.base_url)
    app = api.oauth.create_app(name="我的应用", redirect_uris=["https://myapp.com/callback"], scopes=["read", "write"])
    assert app["client_secret"].startswith("secret_")
    assert "client_secret" not in api.oauth.get_app(app["id"])
    tok = api.oauth.token(grant_type="client_credentials", client_id=app["client_id"], client_secret=app["client_secret"])
    assert tok["token_type"] == "Bearer"
    as_app = Switchyard(tok["access_token"], server.base_url)
    with pytest.raises(SwitchyardError) as e:
        as_app.api_keys.list()
    assert e.value.code == "FORBIDDEN"
    api.oauth.revoke(token=tok["access_token"], client_id=app["client_id"], client_secret=app["client_secret"])
    with pytest.raises(SwitchyardError) as e:
        as_app.api_keys.list()
    assert e.value.code == "UNAUTHORIZED"
    with pytest.raises(SwitchyardError) as e:
        api.oauth.token(grant_type="client_credentials", client_id=app["client_id"], client_secret="nope")
    assert e.value.code == "invalid_client"
    url = api.oauth.authorize_url(client_id=app["client_id"], redirect_uri="https://myapp.com/callback", scope="read", state="s")
    assert url.startswith(f"{server.base_url}/oauth/authorize?")
    assert api._http.get(url).status_code == 200
    assert api.oauth.list_apps()["pagination"]["total"] >= 1
    api.oauth.delete_app(app["id"])


def test_data_endpoints_sync(server):
    d = server.graphql(
        'mutation { createDataEndpoint(input: { slug: "py-orders", name: "Orders" }) { userErrors { message } }'
        ' createDataKey(input: { name: "py" }) { secret } }'
    )
    data = Switchyard(data_key=d["createDataKey"]["secret"], base_url=server.base_url).data("py-orders")
    q = data.create({"order_id": "A-1"})
    assert q["success"] is True and q["id"].startswith("rec_")
    for _ in range(100):
        try:
            rec = data.get(q["id"])
            if (rec.get("data") or {}).get("order_id") == "A-1":
                break
        except SwitchyardError:
            pass
        time.sleep(0.1)
    assert rec["data"]["order_id"] == "A-1"
    assert data.replace(q["id"], {"order_id": "A-2"})["success"] is True
    assert data.delete(q["id"])["success"] is True


def test_async_client_covers_the_same_surface(server):
    async def run() -> None:
        r = _Receiver(200)
        async with AsyncSwitchyard(server.api_key, server.base_url) as api:
            k = await api.api_keys.create(name="async")
            assert (await api.api_keys.get(k["id"]))["name"] == "async"
            assert (await api.api_keys.update(k["id"], description="d"))["description"] == "d"
            ids = [x["id"] async for x in api.api_keys.list_all(limit=1)]
            assert k["id"] in ids
            assert (await api.api_keys.usage(k["id"]))["api_key_id"] == k["id"]
            await api.api_keys.delete(k["id"])

            w = await api.webhooks.create(url=r.url, events=["webhook.*"])
            log = await api.webhooks.test(w["id"])
            assert log["status"] == "success"
            assert [x["id"] async for x in api.webhooks.logs_all(w["id"])]
            assert (await api.webhooks.logs(w["id"]))["pagination"]["total"] >= 1
            assert "retried" in await api.webhooks.retry(w["id"])
            assert (await api.webhooks.list())["pagination"]["total"] >= 1
            await api.webhooks.delete(w["id"])

            p = await api.plugins.install(plugin_id="plugin_weather_v1.0.0", config={"api_key": "k"})
            assert [x["id"] async for x in api.plugins.list_all()] == [p["id"]]
            assert (await api.plugins.list(status="active"))["pagination"]["total"] == 1
            assert (await api.plugins.update_status(p["id"], "inactive"))["status"] == "inactive"
            assert (await api.plugins.get(p["id"]))["config"]["api_key"] == "***"
            assert (await api.plugins.update_config(p["id"], {"api_key": "***", "default_city": "Rome"}))["config"]["default_city"] == "Rome"
            await api.plugins.uninstall(p["id"])

            i = await api.integrations.create(name="async", service_type="slack", config={"webhook_url": r.url})
            assert (await api.integrations.test(i["id"]))["ok"] is True
            assert i["id"] in [x["id"] async for x in api.integrations.list_all()]
            assert (await api.integrations.list(service_type="slack"))["pagination"]["total"] >= 1
            assert (await api.integrations.get(i["id"]))["name"] == "async"
            assert (await api.integrations.update(i["id"], name="renamed"))["name"] == "renamed"
            assert (await api.integrations.sync(i["id"]))["status"] == "queued"
            assert (await api.integrations.sync_runs(i["id"]))["data"][0]["trigger"] == "manual"
            assert len([x async for x in api.integrations.sync_runs_all(i["id"])]) >= 1
            await api.integrations.delete(i["id"])

            app = await api.oauth.create_app(name="a", redirect_uris=["https://x.example/cb"], scopes=["read"])
            tok = await api.oauth.token(grant_type="client_credentials", client_id=app["client_id"], client_secret=app["client_secret"])
            await api.oauth.revoke(token=tok["access_token"], client_id=app["client_id"], client_secret=app["client_secret"])
            assert (await api.oauth.get_app(app["id"]))["id"] == app["id"]
            await api.oauth.delete_app(app["id"])
            with pytest.raises(SwitchyardError):
                await api.oauth.get_app(app["id"])
        r.close()

    asyncio.run(run())


def test_429_is_retried_after_retry_after():
    limited = b'{"error": {"code": "RATE_LIMITED", "message": "slow down"}}'
    ok = b'{"data": [], "pagination": {"page": 1, "limit": 20, "total": 0, "total_pages": 0}}'
    r = _Receiver()
    r.reply = lambda n: (429, {"retry-after": "1", "content-type": "application/json"}, limited) if n == 1 else (200, {"content-type": "application/json"}, ok)
    try:
        base = r.url.rsplit("/", 1)[0] + "/v1"
        t0 = time.monotonic()
        assert Switchyard("k", base).webhooks.list()["pagination"]["total"] == 0
        assert time.monotonic() - t0 >= 0.9 and len(r.hits) == 2
        r.hits.clear()
        with pytest.raises(SwitchyardError) as e:
            Switchyard("k", base, max_retries=0).webhooks.list()
        assert (e.value.code, e.value.retry_after) == ("RATE_LIMITED", 1.0)
    finally:
        r.close()
