"""The shapes the API answers with (seed 002's snake_case fields)."""

from __future__ import annotations

import sys
from typing import Any, Dict, Generic, List, Optional, TypeVar

if sys.version_info >= (3, 11):
    from typing import Literal, NotRequired, TypedDict
else:  # pragma: no cover
    from typing_extensions import Literal, NotRequired, TypedDict

T = TypeVar("T")

Permission = Literal["read", "write", "admin"]


class Pagination(TypedDict):
    page: int
    limit: int
    total: int
    total_pages: int


class Page(TypedDict, Generic[T]):
    """`{"data": [...], "pagination": {...}}`."""

    data: List[T]
    pagination: Pagination


class ApiKey(TypedDict):
    id: str
    name: str
    description: str
    #: The secret: only in the answer to ``create``.
    key: NotRequired[str]
    prefix: str
    permissions: List[Permission]
    environment: Literal["test", "live"]
    enabled: bool
    created_at: str
    updated_at: str
    expires_at: Optional[str]
    last_used_at: Optional[str]
    usage_count: int


class UsageDay(TypedDict):
    day: str
    total: int
    by_status_class: Dict[str, int]


class ApiKeyUsage(TypedDict):
    api_key_id: str
    total: int
    days: List[UsageDay]


class Webhook(TypedDict):
    id: str
    url: str
    events: List[str]
    description: str
    #: Values are shown as ``***``.
    headers: Dict[str, str]
    active: bool
    disabled_reason: Optional[str]
    rate_limit_per_minute: Optional[int]
    timeout_seconds: int
    #: The ``whsec_…`` signing secret: only in the answer to ``create``.
    secret: NotRequired[str]
    created_at: str
    updated_at: str


class WebhookLog(TypedDict):
    id: str
    webhook_id: str
    delivery_id: str
    event: str
    status: Literal["success", "failed"]
    response_code: Optional[int]
    response_time: int
    attempt: int
    error: Optional[str]
    created_at: str
    payload: Dict[str, Any]


class RetryResult(TypedDict):
    retried: int


class OAuthApp(TypedDict):
    id: str
    name: str
    description: str
    client_id: str
    #: Only in the answer to ``create_app`` (confidential apps).
    client_secret: NotRequired[str]
    confidential: bool
    redirect_uris: List[str]
    scopes: List[Permission]
    created_at: str
    updated_at: str


class TokenResponse(TypedDict):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: NotRequired[str]
    scope: str


class Queued(TypedDict):
    """The data API's ``202``."""

    success: bool
    id: str
    message: str


PluginStatus = Literal["active", "inactive"]
IntegrationStatus = Literal["active", "inactive", "error"]


class Plugin(TypedDict):
    #: The manifest id (``plugin_weather_v1.0.0``), as the seed shows it;
    #: paths also take ``installation_id`` or the key.
    id: str
    plugin_id: str
    #: ``plg_…``: the installation, the same across upgrades.
    installation_id: str
    key: str
    name: str
    description: str
    version: str
    author: str
    source: Literal["marketplace", "custom"]
    status: PluginStatus
    #: Secret fields that are set are ``***``.
    config: Dict[str, Any]
    installed_at: str
    updated_at: str


class IntegrationSettings(TypedDict):
    auto_sync: bool
    sync_interval: int


class Integration(TypedDict):
    id: str
    name: str
    service_type: str
    #: Secret fields that are set are ``***``.
    config: Dict[str, Any]
    settings: IntegrationSettings
    status: IntegrationStatus
    last_test_at: Optional[str]
    last_test_status_code: Optional[int]
    last_test_error: Optional[str]
    last_sync_at: Optional[str]
    last_error: Optional[str]
    items_synced: int
    created_at: str
    updated_at: str


class IntegrationTestResult(TypedDict):
    ok: bool
    status_code: Optional[int]
    error: Optional[str]
    integration: Integration


class SyncRun(TypedDict):
    id: str
    integration_id: str
    trigger: Literal["manual", "schedule"]
    status: Literal["queued", "running", "succeeded", "failed", "skipped"]
    items: int
    deleted: int
    error: Optional[str]
    note: Optional[str]
    created_at: str
    finished_at: Optional[str]
