"""Safety building blocks: the crisis screen, the output guard, hotlines and honesty rules.

Everything here is pure and offline; `bot.services.care` puts it together per person.
"""

from bot.services.safety.honesty import (
    DisclosureSchedule,
    DisclosureState,
    ExitWords,
    HonestyConfig,
    Identity,
    IdentityDetector,
    Notice,
    detect_minor,
)
from bot.services.safety.hotlines import HotlineBook, HotlinePlan, format_block
from bot.services.safety.normalize import TextNormalizer
from bot.services.safety.output_guard import GuardResult, OutputGuard
from bot.services.safety.screen import CrisisScreen, ScreenResult, Tier

__all__ = [
    "CrisisScreen",
    "DisclosureSchedule",
    "DisclosureState",
    "ExitWords",
    "GuardResult",
    "HonestyConfig",
    "HotlineBook",
    "HotlinePlan",
    "Identity",
    "IdentityDetector",
    "Notice",
    "OutputGuard",
    "ScreenResult",
    "TextNormalizer",
    "Tier",
    "detect_minor",
    "format_block",
]
