"""Switchyard's REST API client: seed 002's ``/v1`` routes (API keys,
plugins, integrations, webhooks, OAuth) and the data API, sync
(:class:`Switchyard`) and async (:class:`AsyncSwitchyard`)."""

from ._client import AsyncSwitchyard, Switchyard
from ._errors import SwitchyardError
from .webhooks import verify_webhook

#: The seed's names for the clients.
TaiShangLaoJunAPI = Switchyard
AsyncTaiShangLaoJunAPI = AsyncSwitchyard

__all__ = ["Switchyard", "AsyncSwitchyard", "SwitchyardError", "verify_webhook", "TaiShangLaoJunAPI", "AsyncTaiShangLaoJunAPI"]
