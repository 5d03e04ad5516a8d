"""Landing-fixture writers for the job tests: valid records by default, overrides make them bad."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest


def account(account_id: str, **overrides) -> dict:
    record = {
        "account_id": account_id,
        "org_id": None,
        "created_at": "2026-01-05T10:00:00Z",
        "signup_channel": "self_serve",
        "verification": "email",
        "billing_country": "US",
        "payment_fingerprint": "pf-1",
        "email_domain_hash": "ed-1",
        "plan": "build",
        "status": "active",
    }
    record.update(overrides)
    return record


def label(account_id: str, decided_at: str, value: str, source: str, **overrides) -> dict:
    record = {
        "account_id": account_id,
        "decided_at": decided_at,
        "label": value,
        "source": source,
        "campaign_id": None,
    }
    record.update(overrides)
    return record


def without(record: dict, *names: str) -> dict:
    return {k: v for k, v in record.items() if k not in names}


def line(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))


class Landing:
    """Writes files under a landing root in the contract's layout."""

    def __init__(self, root: Path):
        self.root = root

    def folder(self, feed: str, day: str) -> Path:
        path = self.root / feed / f"date={day}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, feed: str, day: str, name: str, lines: list) -> Path:
        """`lines` holds dicts (written as JSON), str (written as is) or bytes (raw)."""
        data = b"".join(
            (
                item
                if isinstance(item, bytes)
                else (line(item) if isinstance(item, dict) else item).encode()
            )
            + b"\n"
            for item in lines
        )
        path = self.folder(feed, day) / name
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        return path

    def releases(self, records: list[dict]) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "model_releases.jsonl"
        path.write_text("".join(line(r) + "\n" for r in records))
        return path


@pytest.fixture
def landing(settings) -> Landing:
    return Landing(Path(settings.landing))


@pytest.fixture(scope="session")
def records(usage_event):
    """The record factories, for test modules (conftest is not importable under importlib);
    `usage_event` is the suite's one sample event (tests/conftest.py)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        usage_event=usage_event, account=account, label=label, without=without, Landing=Landing
    )
