"""The landing contract (`../shared/contracts/landing.md`) as data.

One declaration per feed: field name, kind, nullability, enum values and lower bounds. The ingest
job validates every landing line against it, the simulator's tests check generated lines against
it, and the bronze schemas are derived from it, so the three can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["string", "timestamp", "long", "bool", "enum", "hex16", "country", "ip"]

SURFACES = ("api", "console", "cloud_marketplace")
STATUSES = ("ok", "rate_limited", "refused", "error")
TASK_CATEGORIES = (
    "coding",
    "agentic_tool_use",
    "reasoning_math",
    "vision",
    "creative_writing",
    "chat",
    "data_analysis",
    "policy_sensitive",
    "other",
)
SIGNUP_CHANNELS = (
    "self_serve",
    "education",
    "startup_program",
    "security_research",
    "enterprise",
    "reseller_partner",
)
VERIFICATIONS = ("none", "email", "phone", "card", "kyc")
PLANS = ("free", "build", "scale", "enterprise")
ACCOUNT_STATUSES = ("active", "suspended")
LABELS = ("distillation", "benign")
LABEL_SOURCES = ("analyst_review", "partner_report", "appeal")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    nullable: bool = False
    enum: tuple[str, ...] = ()
    min_value: int | None = None


@dataclass(frozen=True)
class Feed:
    """One landing feed: its folder name and its fields, in contract order."""

    name: str
    fields: tuple[FieldSpec, ...]
    per_day: bool = True
    key: tuple[str, ...] = field(default=())

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.nullable)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def _f(name: str, kind: Kind, nullable: bool = False, enum=(), min_value=None) -> FieldSpec:
    return FieldSpec(name, kind, nullable, tuple(enum), min_value)


USAGE_EVENTS = Feed(
    "usage_events",
    (
        _f("event_id", "string"),
        _f("ts", "timestamp"),
        _f("account_id", "string"),
        _f("org_id", "string", nullable=True),
        _f("api_key_id", "string"),
        _f("surface", "enum", enum=SURFACES),
        _f("model", "string"),
        _f("input_tokens", "long", min_value=0),
        _f("output_tokens", "long", min_value=0),
        _f("latency_ms", "long", nullable=True, min_value=0),
        _f("status", "enum", enum=STATUSES),
        _f("client_ip", "ip"),
        _f("asn", "long", nullable=True),
        _f("ip_country", "country", nullable=True),
        _f("user_agent", "string", nullable=True),
        _f("prompt_template_hash", "hex16"),
        _f("system_prompt_hash", "hex16", nullable=True),
        _f("task_category", "enum", enum=TASK_CATEGORIES),
        _f("cot_elicitation", "bool"),
        _f("rubric_grading", "bool"),
        _f("tool_count", "long", min_value=0),
        _f("has_image", "bool"),
        _f("turns", "long", min_value=1),
    ),
    key=("event_id",),
)

ACCOUNTS = Feed(
    "accounts",
    (
        _f("account_id", "string"),
        _f("org_id", "string", nullable=True),
        _f("created_at", "timestamp"),
        _f("signup_channel", "enum", enum=SIGNUP_CHANNELS),
        _f("verification", "enum", enum=VERIFICATIONS),
        _f("billing_country", "country", nullable=True),
        _f("payment_fingerprint", "string", nullable=True),
        _f("email_domain_hash", "string", nullable=True),
        _f("plan", "enum", enum=PLANS),
        _f("status", "enum", enum=ACCOUNT_STATUSES),
    ),
    key=("account_id",),
)

LABEL_DECISIONS = Feed(
    "labels",
    (
        _f("account_id", "string"),
        _f("decided_at", "timestamp"),
        _f("label", "enum", enum=LABELS),
        _f("source", "enum", enum=LABEL_SOURCES),
        _f("campaign_id", "string", nullable=True),
    ),
    key=("account_id", "decided_at", "label", "source"),
)

MODEL_RELEASES = Feed(
    "model_releases",
    (_f("model", "string"), _f("released_at", "timestamp")),
    per_day=False,
    key=("model",),
)

FEEDS: dict[str, Feed] = {
    f.name: f for f in (USAGE_EVENTS, ACCOUNTS, LABEL_DECISIONS, MODEL_RELEASES)
}

# Personal data: never in anything published downstream (threat model, outputs contract).
PERSONAL_FIELDS = ("client_ip", "payment_fingerprint", "email_domain_hash")

SPARK_TYPE = {
    "string": "string",
    "timestamp": "timestamp",
    "long": "bigint",
    "bool": "boolean",
    "enum": "string",
    "hex16": "string",
    "country": "string",
    "ip": "string",
}


def ddl(feed: Feed) -> str:
    """Spark DDL of the feed's typed columns, e.g. for `StructType.fromDDL`."""
    return ", ".join(f"`{f.name}` {SPARK_TYPE[f.kind]}" for f in feed.fields)
