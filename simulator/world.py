"""Fixed facts of the simulated world: networks, countries, clients, models, task mix.

All networks are synthetic: autonomous system numbers come from the private-use range
(64512-65534), so nothing here names a real provider.
"""

from __future__ import annotations

import datetime as dt

SUPPORTED_COUNTRIES = (
    "US",
    "GB",
    "DE",
    "FR",
    "JP",
    "KR",
    "IN",
    "BR",
    "CA",
    "AU",
    "NL",
    "SG",
    "ES",
    "IT",
    "SE",
    "PL",
)
# Billing regions where the service is not offered (accounts there reach it through proxies).
UNSUPPORTED_COUNTRIES = ("CN", "RU", "IR", "BY", "VE")

# Network kinds: (ASN base, countries of its ASNs, /24s per ASN; 0 = from the scale preset).
NET_KINDS = {
    "residential": (
        64600,
        (*SUPPORTED_COUNTRIES, "US", "US", "IN", "BR", "DE", "GB", "JP", "FR"),
        4096,
    ),
    "hosting": (64700, ("US", "US", "DE", "NL", "SG", "JP", "GB", "IE"), 0),
    "proxy": (64800, ("US", "NL", "SG", "DE", "HK", "US"), 256),
    "campus": (64900, ("US", "GB", "DE", "JP", "IN", "CA"), 64),
    "corporate": (65000, ("US", "GB", "DE", "FR", "JP", "KR"), 64),
    # Mobile carriers: CGNAT, so few public /24s per ASN, each shared by many subscribers.
    "mobile": (65100, ("US", "IN", "BR", "GB", "DE", "JP"), 16),
}
# First /24 number of each kind; a /24 number P maps to the IPv4 prefix 20+P//65536 . . .
NET_BASE = {
    "residential": 0,
    "hosting": 100_000,
    "proxy": 140_000,
    "campus": 170_000,
    "corporate": 200_000,
    "mobile": 230_000,
}
MAX_PREFIXES_PER_ASN = 4096

USER_AGENTS = (
    "atlas-sdk-python/2.14.0",
    "atlas-sdk-python/2.15.1",
    "atlas-sdk-node/1.9.2",
    "python-requests/2.32.3",
    "atlas-sdk-node/1.10.0",
    "httpx/0.27.2",
    "curl/8.5.0",
    "langchain-atlas/0.3.4",
    "atlas-sdk-go/0.8.1",
    "atlas-console/2026.02",
)

# Mix of task categories in ordinary traffic (the popular template space).
ORDINARY_TASKS = (
    ("chat", 25),
    ("coding", 25),
    ("creative_writing", 9),
    ("data_analysis", 10),
    ("reasoning_math", 10),
    ("agentic_tool_use", 9),
    ("vision", 5),
    ("policy_sensitive", 2),
    ("other", 5),
)
# Templates per category in the shared (public) template space; drawn with a heavy head.
SHARED_TEMPLATES = 4000
# Template numbers at or above this are private to an account, app or class.
PRIVATE_BASE = 1_000_000

# (input tokens, output tokens) medians per task category.
TOKENS = {
    "coding": (1500, 700),
    "agentic_tool_use": (3200, 500),
    "reasoning_math": (450, 650),
    "vision": (1300, 300),
    "creative_writing": (300, 700),
    "chat": (250, 250),
    "data_analysis": (2500, 450),
    "policy_sensitive": (300, 350),
    "other": (300, 300),
}

OLD_MODELS = ("atlas-3", "atlas-3-mini")
NEW_MODEL = "atlas-3.5"
LEGACY_MODEL = "atlas-2"

PUBLIC_EMAIL_DOMAINS = 12  # a few public mail providers serve most self-serve sign-ups
UNIVERSITIES = 30
DISPOSABLE_DOMAINS_PER_CAMPAIGN = 4


def releases(start: dt.date, release_day: int, release_hour: int) -> list[tuple[str, dt.datetime]]:
    """The release calendar: three models well before the window, atlas-3.5 inside it."""
    utc = dt.UTC
    base = dt.datetime(start.year, start.month, start.day, tzinfo=utc)
    return [
        (LEGACY_MODEL, base - dt.timedelta(days=420, hours=-16)),
        ("atlas-3", base - dt.timedelta(days=150, hours=-16)),
        ("atlas-3-mini", base - dt.timedelta(days=120, hours=-16)),
        (NEW_MODEL, base + dt.timedelta(days=release_day, hours=release_hour)),
    ]
