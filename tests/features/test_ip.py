"""IP prefixes for the infrastructure graph: IPv4 /24, IPv6 /48 whatever the spelling."""

from __future__ import annotations

from features.ip import ip_prefix

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


def test_ip_prefix(spark):
    df = spark.createDataFrame([(k,) for k in CASES], "ip string")
    got = {r["ip"]: r["p"] for r in df.select("ip", ip_prefix("ip").alias("p")).collect()}
    assert got == CASES
