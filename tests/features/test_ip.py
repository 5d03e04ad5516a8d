"""IP prefixes for the infrastructure graph: IPv4 /24, IPv6 /48 whatever the spelling."""

from __future__ import annotations

import ipaddress

import pyarrow as pa

from features.ip import prefix_of, prefixes_of

CASES = {
    "203.0.113.7": "203.0.113.0/24",
    "203.0.113.250": "203.0.113.0/24",
    "10.1.2.3": "10.1.2.0/24",
    "2001:db8:abcd:12::1": "2001:db8:abcd::/48",
    "2001:0DB8:ABCD:0012:0000:0000:0000:0001": "2001:db8:abcd::/48",
    "2001:db8::1": "2001:db8:0::/48",
    "2001:db8:0:0:1::7": "2001:db8:0::/48",
    "::1": "0:0:0::/48",
    "1::2:3:4:5:6:7": "1:0:2::/48",
    "fe80::1%eth0": "fe80:0:0::/48",
    "::ffff:198.51.100.9": "198.51.100.0/24",
    "::FFFF:198.51.100.9": "198.51.100.0/24",
    "FE80::1%ETH0": "fe80:0:0::/48",
    "not an ip": None,
    # Letters past f stay invalid whatever their case.
    "2001:DB8::G": None,
}


def test_prefix_of_every_spelling():
    assert {ip: prefix_of(ip) for ip in CASES} == CASES
    assert prefix_of(None) is None


def test_prefixes_of_an_array_equal_prefix_of_each():
    # Plain IPv4 (with leading zeros too) goes through Arrow's kernels, the rest one by one.
    texts = [*CASES, "010.001.002.3", " 10.1.2.3", "1.2.3.4\n", None]
    got = prefixes_of(pa.array(texts, pa.string())).to_pylist()
    assert got == [prefix_of(t) for t in texts]
    assert got[len(CASES)] == "10.1.2.0/24"
    assert prefixes_of(pa.array(["1.2.3.4"])).to_pylist() == ["1.2.3.0/24"]


def test_prefix_of_agrees_with_the_ipaddress_module_on_valid_addresses():
    # The bench's DuckDB side cuts prefixes with `ipaddress`; the two must agree on what ingest
    # lets into bronze. Leading zeros of IPv6 groups are dropped alike.
    for ip in ("198.51.100.200", "2001:db8:abcd:12::1", "::", "::1", "2001:db8::", "1:2:3::"):
        addr = ipaddress.ip_address(ip)
        width = 24 if addr.version == 4 else 48
        net = ipaddress.ip_network(f"{ip}/{width}", strict=False)
        if addr.version == 4:
            assert prefix_of(ip) == str(net)
        else:
            groups = net.network_address.exploded.split(":")[:3]
            assert prefix_of(ip) == ":".join(g.lstrip("0") or "0" for g in groups) + "::/48"
