"""A small typed adapter over the ``openai`` SDK: one chat or plain completion, with our own retries.

The SDK's retries are off (``max_retries=0``) so that this module decides: HTTP 429 and 503 wait for
``Retry-After`` (seconds, capped at ``max_wait_s``) or else back off exponentially; other 5xx answers,
timeouts and refused connections back off; anything else fails at once. Errors never carry the API
key: messages are built here from the status and the endpoint's host, not from the request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Callable

    import openai

Mode = Literal["chat", "completion"]
_RETRY_AFTER = frozenset({429, 503})
_SERVER_ERROR = 500
_NO_KEY = "no-key"  # local servers want none; the SDK wants something
_BODY_CHARS = 200


@dataclass(frozen=True)
class Completion:
    """What the endpoint answered: the text and what it reported about it."""

    text: str
    model: str | None
    response_id: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    attempts: int


class ProbeRequestError(Exception):
    """A request that failed for good (after retries where they help); ``reason`` is one line, key-free."""

    def __init__(self, reason: str, *, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: ``retries`` after the first attempt, backoff ``base_s * 2**n``."""

    retries: int = 4
    base_s: float = 1.0
    max_wait_s: float = 60.0


def endpoint_label(base_url: str) -> str:
    """The base URL as recorded: without user info, query or fragment (no secret can ride along)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


class ProbeClient:
    """Talks to one OpenAI-compatible endpoint; thread-safe (the SDK client is)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import openai  # noqa: PLC0415 - an optional dependency (the probe extra), loaded when a probe runs

        self.endpoint = endpoint_label(base_url)
        self.host = urlsplit(base_url).hostname or base_url
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or _NO_KEY, max_retries=0, timeout=timeout_s)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def complete(
        self,
        mode: Mode,
        prompt: list[dict[str, str]] | str,
        *,
        model: str,
        max_tokens: int,
        temperature: float,
        seed: int | None,
    ) -> Completion:
        """One completion: ``prompt`` is chat messages in chat mode, text in completion mode."""
        import openai  # noqa: PLC0415 - loaded by __init__ already

        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(mode, prompt, model, max_tokens, temperature, seed, attempt)
            except openai.APIStatusError as exc:
                status = exc.status_code
                if attempt > self.retry.retries or not (status in _RETRY_AFTER or status >= _SERVER_ERROR):
                    raise ProbeRequestError(self._status_reason(exc, attempt), attempts=attempt) from None
                wait = _retry_after(exc.response.headers.get("retry-after")) if status in _RETRY_AFTER else None
                self._sleep(min(self.retry.max_wait_s, wait if wait is not None else self._backoff(attempt)))
            except openai.APITimeoutError:
                if attempt > self.retry.retries:
                    raise ProbeRequestError(f"{self.host}: timed out ({attempt} attempts)", attempts=attempt) from None
                self._sleep(self._backoff(attempt))
            except openai.APIConnectionError as exc:
                if attempt > self.retry.retries:
                    cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
                    raise ProbeRequestError(
                        f"{self.host}: unreachable ({cause}, {attempt} attempts)", attempts=attempt
                    ) from None
                self._sleep(self._backoff(attempt))

    def _backoff(self, attempt: int) -> float:
        return float(min(self.retry.max_wait_s, self.retry.base_s * 2 ** (attempt - 1)))

    def _once(
        self,
        mode: Mode,
        prompt: list[dict[str, str]] | str,
        model: str,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        attempt: int,
    ) -> Completion:
        extra: dict[str, Any] = {} if seed is None else {"seed": seed}
        if mode == "chat":
            chat = self._client.chat.completions.create(
                model=model,
                messages=prompt,  # type: ignore[arg-type] # plain role/content dicts, as the API takes them
                max_tokens=max_tokens,
                temperature=temperature,
                **extra,
            )
            choices: list[Any] = list(getattr(chat, "choices", None) or [])
            text = getattr(getattr(choices[0], "message", None), "content", None) if choices else None
            return self._completion(chat, choices, text, attempt)
        plain = self._client.completions.create(
            model=model, prompt=str(prompt), max_tokens=max_tokens, temperature=temperature, **extra
        )
        choices = list(getattr(plain, "choices", None) or [])
        return self._completion(plain, choices, getattr(choices[0], "text", None) if choices else None, attempt)

    def _completion(self, response: object, choices: list[Any], text: object, attempt: int) -> Completion:
        if not choices or not isinstance(text, str):
            raise ProbeRequestError(f"{self.host}: malformed response (no choice with text)", attempts=attempt)
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            model=_str_or_none(getattr(response, "model", None)),
            response_id=_str_or_none(getattr(response, "id", None)),
            finish_reason=_str_or_none(getattr(choices[0], "finish_reason", None)),
            prompt_tokens=_int_or_none(getattr(usage, "prompt_tokens", None)),
            completion_tokens=_int_or_none(getattr(usage, "completion_tokens", None)),
            attempts=attempt,
        )

    def _status_reason(self, exc: openai.APIStatusError, attempts: int) -> str:
        status = exc.status_code
        body = _error_message(exc.body)
        detail = f": {body}" if body else ""
        if status == 401:  # noqa: PLR2004 - HTTP status
            return f"{self.host}: 401 unauthorized (check the API key's environment variable){detail}"
        if status == 404:  # noqa: PLR2004 - HTTP status
            return f"{self.host}: 404 not found (unknown model, or not an OpenAI-compatible /v1 URL){detail}"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return f"{self.host}: HTTP {status}{tries}{detail}"


def _error_message(body: object) -> str:
    """The endpoint's own error message, short (``{"error": {"message": ...}}`` or a string)."""
    message: object = body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message", "") if isinstance(inner, dict) else inner
    text = " ".join(str(message or "").split())
    return text[:_BODY_CHARS]


def _retry_after(value: str | None) -> float | None:
    """Seconds of a ``Retry-After`` header (delta-seconds; an HTTP date is ignored: backoff applies)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
