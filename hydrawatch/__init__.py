"""Hydrawatch core: settings, the runtime, the Spark session, storage, the landing contract, errors.

Importing any module of this package starts nothing: no Spark, no MLflow, no logging set-up.
"""

__version__ = "0.1.0"
