import pytest
from pydantic import ValidationError

from hydrawatch.settings import Settings
from hydrawatch.storage import tables


def test_contract_defaults_when_environment_is_empty(monkeypatch, tmp_path):
    for var in [
        "HYDRAWATCH_LANDING",
        "HYDRAWATCH_WAREHOUSE",
        "HYDRAWATCH_EXPORTS",
        "HYDRAWATCH_SPARK_MASTER",
        "MLFLOW_TRACKING_URI",
        "PREFECT_API_URL",
    ]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert (s.landing, s.warehouse, s.exports) == (
        "./data/landing",
        "./data/warehouse",
        "./data/exports",
    )
    assert s.spark_master == "local[*]"
    assert s.prefect_api_url is None
    assert s.tracking_uri == f"sqlite:///{tmp_path / 'data' / 'mlflow' / 'mlflow.db'}"
    assert s.warehouse_uri == str(tmp_path / "data" / "warehouse")


def test_environment_overrides_and_object_store_uris_pass_through(monkeypatch):
    monkeypatch.setenv("HYDRAWATCH_WAREHOUSE", "s3a://bucket/warehouse/")
    monkeypatch.setenv("HYDRAWATCH_SPARK_MASTER", "spark://10.0.0.1:7077")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    s = Settings()
    assert tables.BRONZE_USAGE_EVENTS.location(s) == "s3a://bucket/warehouse/bronze/usage_events"
    assert s.spark_master == "spark://10.0.0.1:7077"
    assert s.tracking_uri == "http://127.0.0.1:5000"
    assert s.prefect_api_url == "http://127.0.0.1:4200/api"
    assert not s.is_local_master


def test_settings_are_frozen_and_typed(monkeypatch):
    s = Settings()
    with pytest.raises(ValidationError):
        s.landing = "elsewhere"
    monkeypatch.setenv("HYDRAWATCH_QUARANTINE_MAX_SHARE", "1.5")
    with pytest.raises(ValidationError):
        Settings()
