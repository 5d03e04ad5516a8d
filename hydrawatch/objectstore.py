"""Delta tables on S3: the connector's jars, and commits that several drivers can make at once.

Delta commits version N of a table by creating `_delta_log/N.json`, and relies on that create
failing when another writer made the file first. On S3 Delta's default log store
(`S3SingleDriverLogStore`) only guarantees that between the threads of one driver; every CLI
command and every served flow run is its own driver, and two of them committing to one table
both write version N: one commit is lost without an error. So a warehouse on S3 commits through
the project's `S3ConditionalPutLogStore` (infra/logstore/): S3's conditional PUT
(`If-None-Match: *`) lets exactly one writer create a commit file, the others get the conflict
Delta retries on. Delta's own multi-driver store for S3 (`S3DynamoDBLogStore`) is not used: it
needs a DynamoDB table beside the bucket and the end-of-support AWS SDK v1, and its artifact
(`delta-storage-s3-dynamodb`) is not served by the registry this project resolves from
(docs/reliability.md, "Commits on object storage").

`object_store_conf(settings, jars)` is what `build_spark` adds when any root is on S3
(`s3a://`, or `s3://` mapped to S3A): the jars set-up resolved into `<jars_dir>/s3a/`, after
Delta's, and the log store for both schemes. A single-driver log store on an S3 warehouse is
refused unless the operator declares a single writer (`HYDRAWATCH_SINGLE_WRITER=true`).
Credentials are not settings: S3A and the AWS SDK read them from the provider chain
(environment, web identity, instance profile).
"""

from __future__ import annotations

import glob
import os

from hydrawatch.errors import HydrawatchError
from hydrawatch.settings import Settings

S3_SCHEMES = ("s3a", "s3")
# Folder under the jars folder that infra/setup.sh fills from infra/pom-s3a.xml and infra/logstore/.
S3_JARS_FOLDER = "s3a"
CONDITIONAL_LOG_STORE = "dev.hydrawatch.delta.S3ConditionalPutLogStore"
SINGLE_DRIVER_LOG_STORE = "io.delta.storage.S3SingleDriverLogStore"


def on_s3(uri: str) -> bool:
    """True for an `s3a://` or `s3://` location."""
    scheme, sep, _ = uri.partition("://")
    return bool(sep) and scheme.lower() in S3_SCHEMES


def s3_log_store(settings: Settings) -> str:
    """The Delta log store class for S3 locations; a single-driver one on an S3 warehouse only
    with the operator's word that one driver alone writes it."""
    if settings.s3_log_store == "conditional":
        return CONDITIONAL_LOG_STORE
    if on_s3(settings.warehouse_uri) and not settings.single_writer:
        raise HydrawatchError(
            f"HYDRAWATCH_S3_LOG_STORE=single-driver on the S3 warehouse {settings.warehouse_uri} "
            "loses commits when two drivers write one table (every CLI command and flow run is "
            "its own driver); use the default HYDRAWATCH_S3_LOG_STORE=conditional, or set "
            "HYDRAWATCH_SINGLE_WRITER=true if one driver alone ever writes this warehouse"
        )
    return SINGLE_DRIVER_LOG_STORE


def s3_jars(jars_dir: str) -> list[str]:
    """The S3 connector's jars and the project's log store, as infra/setup.sh resolved them."""
    folder = os.path.join(jars_dir, S3_JARS_FOLDER)
    jars = sorted(glob.glob(os.path.join(folder, "*.jar")))
    names = [os.path.basename(j) for j in jars]
    needed = ("hadoop-aws-", "s3-", "hydrawatch-s3-logstore")
    if not all(any(n.startswith(prefix) for n in names) for prefix in needed):
        raise HydrawatchError(
            f"the S3 connector jars are missing from {folder}; run `make setup` (resolves them "
            "with Maven from infra/pom-s3a.xml and builds infra/logstore/)"
        )
    return jars


def object_store_conf(settings: Settings, jars: list[str]) -> dict[str, str]:
    """Spark settings for roots on S3 (none when no root is): `jars` (Delta's) followed by the
    S3 connector's on `spark.jars` and the driver's class path, and the Delta log store."""
    roots = (settings.warehouse_uri, settings.landing_uri, settings.exports_uri)
    if not any(on_s3(root) for root in roots):
        return {}
    log_store = s3_log_store(settings)
    every_jar = [*jars, *s3_jars(settings.jars_dir)]
    return {
        "spark.jars": ",".join(every_jar),
        "spark.driver.extraClassPath": os.pathsep.join(every_jar),
        **{f"spark.delta.logStore.{scheme}.impl": log_store for scheme in S3_SCHEMES},
    }
