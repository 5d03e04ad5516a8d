"""Hydrawatch core: settings, the Spark session, the landing contract, errors and the CLI.

Importing any module of this package starts nothing: no Spark, no MLflow, no logging set-up.
"""

__version__ = "0.1.0"
