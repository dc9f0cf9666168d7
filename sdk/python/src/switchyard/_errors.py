"""The one error type, carrying the seed's ``code`` and ``details``."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional


class SwitchyardError(Exception):
    """An error answer.

    ``code``: ``INVALID_REQUEST``, ``UNAUTHORIZED``, ``FORBIDDEN``,
    ``NOT_FOUND``, ``RATE_LIMITED``, ``INTERNAL_ERROR`` (or an OAuth error
    such as ``invalid_client``); ``details``: the first field at fault as
    ``{"field", "reason"}``; ``errors``: every one.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Optional[List[Mapping[str, str]]] = None,
        retry_after: Optional[float] = None,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors or [])
        self.details = self.errors[0] if self.errors else None
        self.retry_after = retry_after
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"SwitchyardError({self.status}, {self.code!r}, {self.message!r})"

    @classmethod
    def from_response(cls, status: int, body: Any, headers: Mapping[str, str]) -> "SwitchyardError":
        e = body.get("error") if isinstance(body, dict) else None
        errors: List[Mapping[str, str]] = []
        if isinstance(e, dict):  # /v1
            code, message = e.get("code", ""), e.get("message", "")
            errors = e.get("errors") or ([e["details"]] if e.get("details") else [])
        elif isinstance(e, str) and body.get("success") is False:  # the data API
            code, message = body.get("code", "INVALID_REQUEST"), e
            errors = [{"field": d.get("field", ""), "reason": d.get("error", "")} for d in body.get("details") or []]
        elif isinstance(e, str):  # OAuth (RFC 6749 §5.2)
            code, message = e, body.get("error_description", e)
        else:
            code = "INTERNAL_ERROR" if status >= 500 else "INVALID_REQUEST"
            message = f"HTTP {status}"
        ra = headers.get("retry-after")
        try:
            retry_after = float(ra) if ra is not None else None
        except ValueError:
            retry_after = None
        return cls(status, code, message, errors, retry_after, headers.get("x-request-id"))
