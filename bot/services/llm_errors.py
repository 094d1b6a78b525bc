"""The model client's error tree.

    LLMError                  anything the model client raises
    ├── LLMTimeout            an attempt or the whole turn ran out of time
    ├── LLMRateLimited        429; `retry_after` is the server's hint in seconds, if any
    ├── LLMUnavailable        5xx, connection failure, bad key / unknown model, or the breaker is open
    ├── LLMBadResponse        the request was refused (400/422) or the answer was not understood
    ├── LLMStreamBroken       a stream broke after text was delivered; `partial` holds that text
    └── AllProvidersFailed    no model in the chain produced a first token; `errors` says why

Only `LLMStreamBroken`, `AllProvidersFailed` and (for a request the provider rejects)
`LLMBadResponse` leave `LLMClient`; the others are collected inside `AllProvidersFailed.errors`.
Messages never contain prompt or reply text — only ids, status codes and sizes.
"""

from __future__ import annotations


class LLMError(Exception):
    """Base of every model-client error; `model` and `provider` say where it happened."""

    retryable = False

    def __init__(self, message: str, *, model: str = "", provider: str = "") -> None:
        super().__init__(message)
        self.model = model
        self.provider = provider


class LLMTimeout(LLMError):
    """No answer within the per-attempt timeout or the per-turn deadline."""

    retryable = True


class LLMRateLimited(LLMError):
    """The provider answered 429; `retry_after` is its hint in seconds (None when absent)."""

    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, model: str = "", provider: str = ""
    ) -> None:
        super().__init__(message, model=model, provider=provider)
        self.retry_after = retry_after


class LLMUnavailable(LLMError):
    """The provider failed (5xx, 408, 409, connection) or cannot serve us (401/403/404, breaker).

    `retryable` is False for the permanent cases so the client moves to the next model at once.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
        model: str = "",
        provider: str = "",
    ) -> None:
        super().__init__(message, model=model, provider=provider)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class LLMBadResponse(LLMError):
    """The provider rejected the request (400/422) or sent something we cannot parse."""

    def __init__(
        self, message: str, *, status: int | None = None, model: str = "", provider: str = ""
    ) -> None:
        super().__init__(message, model=model, provider=provider)
        self.status = status


class LLMStreamBroken(LLMError):
    """The stream stopped after text reached the caller; the text so far is in `partial`."""

    def __init__(
        self,
        message: str,
        *,
        partial: str,
        fallback: bool = False,
        cause: LLMError | None = None,
        model: str = "",
        provider: str = "",
    ) -> None:
        super().__init__(message, model=model, provider=provider)
        self.partial = partial
        self.fallback = fallback
        self.cause = cause


class AllProvidersFailed(LLMError):
    """Every model in the chain failed before its first token; `errors` lists each failure."""

    def __init__(self, errors: list[LLMError]) -> None:
        summary = "; ".join(f"{e.provider}/{e.model}: {type(e).__name__}" for e in errors[-6:])
        super().__init__(f"all models failed ({len(errors)} attempts): {summary}")
        self.errors = errors

    @property
    def last(self) -> LLMError | None:
        """The most recent failure, if any attempt was made."""
        return self.errors[-1] if self.errors else None
