"""What a run needs from its surroundings, built once at the edge and passed down.

A `Runtime` holds the settings, a Spark factory, the MLflow client and a progress reporter. The
command line (and a flow run that starts without one, a served deployment) builds it; jobs take
it as their first argument (`run_<job>(rt, ...)`); tests build one around their own Spark session
and settings. Nothing here is global: two runtimes in a process share nothing, and nothing is
started until it is first used (`rt.spark` builds the session then, through the factory).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hydrawatch.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from hydrawatch.storage.warehouse import Warehouse

Reporter = Callable[[str], None]
SparkFactory = Callable[[Settings], "SparkSession"]


def default_spark_factory(settings: Settings) -> SparkSession:
    from hydrawatch.spark import build_spark

    return build_spark(settings)


def _point_mlflow_at(settings: Settings) -> None:
    # MLflow's fluent API (`mlflow.start_run`, `register_model`, `models:/` URIs) reads
    # process-wide URIs: they are pointed at the run's store whenever its client is handed out.
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)


class Runtime:
    """Settings, Spark (built on first use), the MLflow client and where progress lines go."""

    # No __dict__: Prefect stores flow parameters it can encode, and this object holds a
    # session and a client; without one the encoder gives up at once (a `<Runtime>` placeholder).
    __slots__ = ("_lock", "_mlflow", "_spark", "_spark_factory", "reporter", "settings")

    def __init__(
        self,
        settings: Settings,
        *,
        spark: SparkSession | None = None,
        spark_factory: SparkFactory = default_spark_factory,
        reporter: Reporter | None = None,
    ):
        self.settings = settings
        self._spark = spark
        self._spark_factory = spark_factory
        self._mlflow: Any = None
        self._lock = threading.Lock()
        self.reporter = reporter

    @classmethod
    def from_environment(cls, reporter: Reporter | None = None) -> Runtime:
        """The runtime of a run started without one: settings from the environment."""
        return cls(Settings.from_environment(), reporter=reporter)

    def with_reporter(self, reporter: Reporter | None) -> Runtime:
        """The same runtime (same Spark session once built) with progress lines going elsewhere."""
        other = Runtime(
            self.settings,
            spark=self._spark,
            spark_factory=self._spark_factory,
            reporter=reporter,
        )
        other._mlflow = self._mlflow
        return other

    @property
    def spark(self) -> SparkSession:
        """The run's Spark session, built by the factory on first use."""
        with self._lock:
            if self._spark is None:
                self._spark = self._spark_factory(self.settings)
            return self._spark

    @property
    def spark_started(self) -> bool:
        return self._spark is not None

    @property
    def warehouse(self) -> Warehouse:
        from hydrawatch.storage.warehouse import Warehouse

        return Warehouse(self.spark, self.settings)

    @property
    def mlflow(self):
        """The MLflow client of the run's tracking and registry store (made on first use)."""
        _point_mlflow_at(self.settings)
        with self._lock:
            if self._mlflow is None:
                from mlflow import MlflowClient

                uri = self.settings.tracking_uri
                self._mlflow = MlflowClient(tracking_uri=uri, registry_uri=uri)
            return self._mlflow

    def say(self, message: str) -> None:
        """One progress line: to the Prefect run log (what the UI shows) when inside a run, else
        the `hydrawatch` logger, and to the reporter (the terminal of a command)."""
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger

        try:
            get_run_logger().info(message)
        except MissingContextError:
            logging.getLogger("hydrawatch").info(message)
        if self.reporter is not None:
            self.reporter(message)
