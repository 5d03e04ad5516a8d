"""The shared-infrastructure graph (Deep Entity Classification style) and connected components.

Accounts are linked through what they share: IP /24 or /48 prefix, ASN, user agent and system
prompt (from the 7 days up to the feature date), payment fingerprint and e-mail domain hash
(from the snapshot). `infra_features` gives, per account, how many other accounts share each
kind of item with it (every kind), and its component in the graph whose edges link two active
accounts that share at least `min_shared` distinct *strong* items (IP prefix, payment
fingerprint, system prompt), each used by 2 to `max_item_accounts` active accounts, counting only
the kinds of which the account holds at most `max_account_items` items (hub accounts: a
reseller's egress spans hundreds of /24s and met campaign VPS ranges by chance). A pair is
not linked across the boundary of an established organisation (one of more than
`max_org_accounts` accounts): two members of the same organisation may be linked, and so may two
accounts outside any established one, but a reseller's sub-accounts never join a campaign's
component through proxy ranges they happen to share with it.

Why pairs sharing several strong items, and not every shared item as a hyper-edge: ASNs, SDK
user agents and e-mail domains are shared by whole populations, and even one shared /24 chains
across a cloud's tenants, a reseller's many egress ranges and residential proxy exits. On the
simulator one /24 edge made a 450-account component holding every campaign, resellers and 127
solo developers; pairs sharing 3 strong items gave campaign-pure components (a proxy group that
shares its /24s and cards) and left solo developers alone (docs/features.md, "Shared
infrastructure"). Projecting items onto account pairs costs at most `max_item_accounts` times
the (account, item) rows, since a shared item holds at most that many accounts.

`connected_components` gives each node the smallest node id of its component, so the id is the
same on every run over the same input. A membership of at most `driver_max_rows` rows (every day
of the simulator and of a small tenant) is collected once through Arrow and solved exactly by
SciPy's `csgraph.connected_components` on the driver: one Spark job instead of some twenty per
round of propagation, which were most of a small day's feature time (bench/README.md, "The
feature job day after day"). A larger one runs in plain Spark: min-label propagation over the
bipartite node-group membership, at most `max_iter` rounds, each round's labels cached
(`localCheckpoint`) so the plan does not grow with the rounds. Both give the same components
whenever propagation converges within `max_iter` rounds (a test holds them equal).
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from features.clusters import org_sizes
from features.windows import in_window

# Item kinds and the feature names they feed (shared_<kind>_max_accounts).
EVENT_ITEMS = {
    "ip_prefix": "ip_prefixes",
    "asn": "asns",
    "user_agent": "user_agents",
    "system_prompt": "system_prompts",
}
SNAPSHOT_ITEMS = {"payment": "payment_fingerprint", "email_domain": "email_domain_hash"}
# Items specific enough to link two accounts (in numbers, see the module docstring).
STRONG_ITEMS = ("ip_prefix", "payment", "system_prompt")
ITEM_WINDOW_DAYS = 7


# Memberships up to this many (node, group) rows are solved on the driver (module docstring):
# a few hundred MB of strings at most.
DRIVER_MAX_ROWS = 2_000_000


def connected_components(
    membership: DataFrame, max_iter: int, driver_max_rows: int = DRIVER_MAX_ROWS
) -> tuple[DataFrame, int]:
    """Components of the graph in which every `group` links all its `node`s.

    Returns ((node, component) for every node of `membership`, Spark propagation rounds run: 0
    when the membership was small enough to solve on the driver). In Spark, stops when a round
    changes no label, or after `max_iter` rounds (then a very long chain may still be split;
    the bound keeps a bad day from running forever).
    """
    m = membership.select("node", "group").distinct().localCheckpoint()
    if driver_max_rows > 0:
        rows = m.limit(driver_max_rows + 1).toArrow()
        if rows.num_rows <= driver_max_rows:
            return _components_on_driver(m, rows), 0
    labels = m.select("node").distinct().withColumn("label", F.col("node"))
    rounds = 0
    for rounds in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        group_label = m.join(labels, "node").groupBy("group").agg(F.min("label").alias("gl"))
        node_label = m.join(group_label, "group").groupBy("node").agg(F.min("gl").alias("nl"))
        # The change flag is computed with the new labels, so the convergence check only
        # scans the cached rows (no extra join).
        new_label = F.least("label", F.coalesce("nl", "label"))
        new = (
            labels.join(node_label, "node", "left")
            .select("node", new_label.alias("label"), (new_label != F.col("label")).alias("chg"))
            .localCheckpoint()
        )
        done = new.where("chg").isEmpty()
        labels = new.drop("chg")
        if done:
            break
    return labels.withColumnRenamed("label", "component"), rounds


def _components_on_driver(membership: DataFrame, rows) -> DataFrame:
    """(node, component) of the Arrow table `rows` (node, group), solved with SciPy: nodes and
    groups are the vertices of one bipartite graph, each row an edge."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as components

    spark = membership.sparkSession
    node_type = membership.schema["node"].dataType
    schema = StructType([StructField("node", node_type), StructField("component", node_type)])
    if rows.num_rows == 0:
        return spark.createDataFrame([], schema)
    # np.unique sorts: node index order is id order (code points, the order Spark's min uses).
    nodes, node_of_row = np.unique(
        rows.column("node").to_numpy(zero_copy_only=False), return_inverse=True
    )
    groups, group_of_row = np.unique(
        rows.column("group").to_numpy(zero_copy_only=False), return_inverse=True
    )
    n = len(nodes)
    size = n + len(groups)
    edges = coo_matrix(
        (np.ones(rows.num_rows, dtype=np.int8), (node_of_row, n + group_of_row)),
        shape=(size, size),
    )
    _, label = components(edges, directed=False)
    node_label = label[:n]
    # The smallest node index of each component is its smallest id (nodes are sorted).
    first = np.full(label.max() + 1, n)
    np.minimum.at(first, node_label, np.arange(n))
    component = nodes[first[node_label]]
    import pyarrow as pa

    table = pa.table({"node": pa.array(nodes, pa.string()), "component": pa.array(component)})
    return spark.createDataFrame(table, schema)


def account_items(silver: DataFrame, snapshot: DataFrame, feature_date: dt.date) -> DataFrame:
    """Distinct (account_id, kind, item) of the 7-day window and of the snapshot."""
    s7 = silver.where(in_window(feature_date, ITEM_WINDOW_DAYS))
    parts = [
        s7.select(
            "account_id",
            F.lit(kind).alias("kind"),
            F.explode(F.transform(col, lambda x: x.cast("string"))).alias("item"),
        )
        for kind, col in EVENT_ITEMS.items()
    ]
    parts += [
        snapshot.where(F.col(col).isNotNull()).select(
            "account_id", F.lit(kind).alias("kind"), F.col(col).alias("item")
        )
        for kind, col in SNAPSHOT_ITEMS.items()
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.where(F.col("item").isNotNull()).distinct()


def infra_features(
    silver: DataFrame,
    snapshot: DataFrame,
    active: DataFrame,
    feature_date: dt.date,
    max_item_accounts: int,
    max_iter: int,
    min_shared: int = 3,
    max_account_items: int = 200,
    max_org_accounts: int | None = None,
    driver_max_rows: int = DRIVER_MAX_ROWS,
) -> tuple[DataFrame, int]:
    """Sharing counts and the infrastructure component of every account in `active`.

    Returns (frame with account_id, shared_*_max_accounts, distinct_{ip_prefixes,asns,
    user_agents}_7d, infra_cluster_id; rounds the components took). `max_org_accounts` None
    links across organisations freely.
    """
    items = account_items(silver, snapshot, feature_date)
    # Sharing counts: event items among active accounts, snapshot items among all accounts.
    degree = items.groupBy("kind", "item").agg(F.count_distinct("account_id").alias("deg"))
    mine = items.join(active.select("account_id"), "account_id").join(degree, ["kind", "item"])
    kinds = [*EVENT_ITEMS, *SNAPSHOT_ITEMS]
    counts = mine.groupBy("account_id").agg(
        *[
            F.coalesce(F.max(F.when(F.col("kind") == k, F.col("deg") - 1)), F.lit(0)).alias(
                f"shared_{k}_max_accounts"
            )
            for k in kinds
        ],
        *[
            F.count(F.when(F.col("kind") == k, True)).alias(f"distinct_{name}_7d")
            for k, name in (
                ("ip_prefix", "ip_prefixes"),
                ("asn", "asns"),
                ("user_agent", "user_agents"),
            )
        ],
    )
    # Edges: pairs of active accounts sharing >= min_shared strong items of 2..cap accounts.
    # An account holding more than `max_account_items` items of one kind (a reseller's or a
    # marketplace's egress over hundreds of /24s) makes no edges through that kind: three of its
    # hundreds of ranges in common with anyone is chance, not shared infrastructure.
    active_deg = mine.groupBy("kind", "item").agg(F.count(F.lit(1)).alias("adeg"))
    per_account = F.count(F.lit(1)).over(Window.partitionBy("account_id", "kind"))
    strong = (
        mine.where(F.col("kind").isin(*STRONG_ITEMS))
        .withColumn("_held", per_account)
        .where(F.col("_held") <= max_account_items)
        .join(active_deg, ["kind", "item"])
        .where((F.col("adeg") >= 2) & (F.col("adeg") <= max_item_accounts))
        .select("account_id", F.concat_ws(":", "kind", "item").alias("g"))
    )
    pairs = (
        strong.alias("x")
        .join(
            strong.alias("y"),
            (F.col("x.g") == F.col("y.g")) & (F.col("x.account_id") < F.col("y.account_id")),
        )
        .groupBy(F.col("x.account_id").alias("a"), F.col("y.account_id").alias("b"))
        .agg(F.count(F.lit(1)).alias("shared"))
        .where(F.col("shared") >= min_shared)
    )
    if max_org_accounts is not None:
        pairs = _within_organisations(pairs, snapshot, max_org_accounts)
    pair_id = F.concat_ws("|", "a", "b")
    edges = pairs.select(F.col("a").alias("node"), pair_id.alias("group")).unionByName(
        pairs.select(F.col("b").alias("node"), pair_id.alias("group"))
    )
    comps, rounds = connected_components(edges, max_iter, driver_max_rows)
    out = counts.join(
        comps.select(
            F.col("node").alias("account_id"), F.col("component").alias("infra_cluster_id")
        ),
        "account_id",
        "left",
    )
    return out, rounds


def _within_organisations(
    pairs: DataFrame, snapshot: DataFrame, max_org_accounts: int
) -> DataFrame:
    """The pairs (a, b) that do not cross an established organisation's boundary: both in the
    same organisation, or neither in one of more than `max_org_accounts` accounts.

    Why: a reseller's or an enterprise's accounts are one known customer (one contract, one
    bill); what they share with strangers is the provider's network, not an operation. Left in,
    17 reseller accounts sat in a campaign's component on one simulated world and took its
    means (docs/features.md, "Organisation boundary").
    """
    orgs = snapshot.select("account_id", "org_id").distinct()
    o = orgs.join(org_sizes(orgs), "account_id").select(
        "account_id", "org_id", (F.col("org_accounts") > max_org_accounts).alias("established")
    )
    oa = o.select(
        F.col("account_id").alias("a"),
        F.col("org_id").alias("org_a"),
        F.col("established").alias("est_a"),
    )
    ob = o.select(
        F.col("account_id").alias("b"),
        F.col("org_id").alias("org_b"),
        F.col("established").alias("est_b"),
    )
    same_org = F.col("org_a").isNotNull() & (F.col("org_a") == F.col("org_b"))
    unaffiliated = ~F.coalesce(F.col("est_a"), F.lit(False)) & ~F.coalesce(
        F.col("est_b"), F.lit(False)
    )
    return (
        pairs.join(oa, "a", "left")
        .join(ob, "b", "left")
        .where(same_org | unaffiliated)
        .select("a", "b", "shared")
    )


def cluster_aggregates(
    features: DataFrame, cluster_col: str, prefix: str, means: tuple[str, ...]
) -> DataFrame:
    """Per account: its cluster's size and the mean of `means` over the cluster's members."""
    agg = features.groupBy(cluster_col).agg(
        F.count(F.lit(1)).cast("double").alias(f"{prefix}_size"),
        *[F.avg(F.col(c).cast("double")).alias(f"{prefix}_mean_{c}") for c in means],
        F.avg(
            F.when(
                (F.col("account_age_days") >= 0) & (F.col("account_age_days") < 30), 1.0
            ).otherwise(0.0)
        ).alias(f"{prefix}_young_share"),
    )
    return features.select("account_id", cluster_col).join(agg, cluster_col).drop(cluster_col)
