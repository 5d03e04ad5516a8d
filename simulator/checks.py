"""Pure-Python checks of simulated landing data, for tests and for looking at a small run.

`validate_line(feed, line)` checks one line against `hydrawatch.contracts` and returns the
reason code it breaks (or None); `account_signals` computes the single signals the overlap check
uses (volume, top-template share, shared /24, same-hour template synchrony, cot rate) per account;
`auc` is the rank-sum ROC AUC. They read files into driver memory: bounded, tiny-scale use only.
"""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

from hydrawatch.contracts import Feed

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


def validate_line(feed: Feed, line: str) -> str | None:
    """None if `line` satisfies the landing contract for `feed`, else the reason code."""
    try:
        obj = json.loads(line)
    except ValueError:
        return "not_json"
    if not isinstance(obj, dict):
        return "not_an_object"
    for f in feed.fields:
        value = obj.get(f.name)
        if value is None:
            if f.nullable:
                continue
            return "missing_field"
        if f.kind == "long":
            if not isinstance(value, int) or isinstance(value, bool):
                return "wrong_type"
            if f.min_value is not None and value < f.min_value:
                return "out_of_range"
        elif f.kind == "bool":
            if not isinstance(value, bool):
                return "wrong_type"
        elif not isinstance(value, str):
            return "wrong_type"
        elif f.kind == "enum" and value not in f.enum:
            return "bad_enum"
        elif f.kind == "timestamp":
            if not _TS.match(value):
                return "bad_timestamp"
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif (f.kind == "hex16" and not _HEX16.match(value)) or (
            f.kind == "country" and not _COUNTRY.match(value)
        ):
            return "bad_format"
        elif f.kind == "ip":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                return "bad_format"
    return None


def read_lines(folder: Path) -> list[tuple[str, str]]:
    """(file name, line) for every line of every file in a delivery folder."""
    out = []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            out.extend((path.name, line.rstrip("\n")) for line in fh)
    return out


def prefix_of(ip: str) -> str:
    if ":" in ip:
        return ":".join(ip.split(":")[:3])
    return ip.rsplit(".", 1)[0]


def account_signals(events: list[dict]) -> dict[str, dict[str, float]]:
    """Single signals per account: volume, top-template share, shared /24 size, synchrony, cot."""
    by_acct: dict[str, list[dict]] = defaultdict(list)
    prefix_accounts: dict[str, set] = defaultdict(set)
    bucket_accounts: dict[tuple, set] = defaultdict(set)
    for ev in events:
        a = ev["account_id"]
        by_acct[a].append(ev)
        prefix_accounts[prefix_of(ev["client_ip"])].add(a)
        bucket_accounts[(ev["prompt_template_hash"], ev["ts"][:13])].add(a)
    out = {}
    for a, evs in by_acct.items():
        tpl = Counter(e["prompt_template_hash"] for e in evs)
        pfx = Counter(prefix_of(e["client_ip"]) for e in evs).most_common(1)[0][0]
        buckets = {(e["prompt_template_hash"], e["ts"][:13]) for e in evs}
        out[a] = {
            "volume": float(len(evs)),
            "top_template_share": tpl.most_common(1)[0][1] / len(evs),
            "shared_prefix_size": float(len(prefix_accounts[pfx])),
            "synchrony": sum(len(bucket_accounts[b]) - 1 for b in buckets) / len(buckets),
            "cot_rate": sum(1 for e in evs if e["cot_elicitation"]) / len(evs),
        }
    return out


def auc(neg: list[float], pos: list[float]) -> float:
    """ROC AUC of a score separating `pos` from `neg` (ties count half), by rank sums."""
    values = sorted([(v, 0) for v in neg] + [(v, 1) for v in pos])
    ranks: dict[float, float] = {}
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j][0] == values[i][0]:
            j += 1
        ranks[values[i][0]] = (i + j + 1) / 2
        i = j
    rank_sum = sum(ranks[v] for v in pos)
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
