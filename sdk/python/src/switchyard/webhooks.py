"""Verifying the messages Switchyard's webhooks send (Standard Webhooks).
Delegates to the ``standardwebhooks`` package (``pip install
switchyard-sdk[webhooks]``)."""

from __future__ import annotations

from typing import Any, Mapping, Union


def verify_webhook(payload: Union[bytes, str], headers: Mapping[str, str], secret: str) -> Any:
    """Checks a message against the webhook's ``whsec_…`` secret and returns
    its parsed body; raises ``standardwebhooks.WebhookVerificationError``
    when the signature or the timestamp (±5 minutes) is wrong. ``payload``
    must be the raw body, exactly as received."""
    from standardwebhooks.webhooks import Webhook

    wanted = ("webhook-id", "webhook-timestamp", "webhook-signature")
    plain = {k.lower(): v for k, v in headers.items() if k.lower() in wanted}
    return Webhook(secret).verify(payload, plain)
