"""Logging: levels, quiet HTTP libraries, and a filter that masks secrets in every record."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable

# Telegram bot tokens, OpenAI-style keys, and bearer headers, even when we were not told them.
_PATTERNS = (
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}\b"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b[MN][A-Za-z\d_-]{23,25}\.[\w-]{6}\.[\w-]{27,}\b"),
)
MASK = "***"


class RedactingFilter(logging.Filter):
    """Replaces known secrets and secret-shaped strings in a record's final message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks can carry URLs with tokens; render them now, redacted.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(formatted)
            record.exc_info = None
            record.msg = f"{record.getMessage()}\n{record.exc_text}"
            record.args = None
            record.exc_text = None
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> RedactingFilter:
    """Configure the root logger once; returns the redaction filter (tests add canaries to it)."""
    root = logging.getLogger()
    root.setLevel(level)
    redactor = RedactingFilter(secrets)
    if not any(isinstance(h, logging.StreamHandler) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    for existing in root.handlers:
        existing.addFilter(redactor)
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    for noisy in ("httpx", "httpcore", "telegram", "apscheduler", "discord.http", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redactor


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log an unexpected exception by type and stack frames only.

    Exception messages can carry the person's words (a parse error quoting input, a model
    error echoing the prompt), so they never reach the log.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(
        f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in reversed(frames[-6:])
    )
    logger.error("%s: %s at %s", what, type(exc).__name__, where or "?")
