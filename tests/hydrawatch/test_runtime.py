"""The runtime: built at the edge, nothing started until used, nothing shared between runtimes."""

from __future__ import annotations

from hydrawatch.runtime import Runtime


def test_spark_is_built_once_on_first_use_by_the_factory(settings):
    built = []

    def factory(s):
        built.append(s)
        return object()

    rt = Runtime(settings, spark_factory=factory)
    assert built == [] and not rt.spark_started
    first = rt.spark
    assert rt.spark is first and built == [settings]
    # Another runtime shares nothing: it builds its own.
    other = Runtime(settings, spark_factory=factory)
    assert other.spark is not first and len(built) == 2


def test_progress_lines_go_to_the_runtime_reporter(settings):
    said: list[str] = []
    rt = Runtime(settings, spark_factory=lambda s: "session")
    rt.say("nobody listens")
    watched = rt.with_reporter(said.append)
    watched.say("day 2026-02-01: holding a lock")
    assert said == ["day 2026-02-01: holding a lock"]
    # The same session, once built, is shared with the reporter's copy.
    assert rt.spark == watched.spark == "session"
    assert rt.settings is watched.settings


def test_the_mlflow_client_is_the_settings_store(settings, make_settings, tmp_path):
    import mlflow

    rt = Runtime(settings)
    client = rt.mlflow
    assert rt.mlflow is client  # made once per runtime
    assert mlflow.get_tracking_uri() == settings.tracking_uri
    # Handing out another runtime's client points MLflow's fluent API at that store.
    other = make_settings(
        tmp_path / "other", mlflow_tracking_uri=f"sqlite:///{tmp_path / 'other.db'}"
    )
    assert Runtime(other).mlflow is not client
    assert mlflow.get_tracking_uri() == other.tracking_uri
    client.search_experiments()  # the client keeps its own store
    assert client.get_experiment_by_name("Default") is not None
