"""Synthetic API traffic for Hydrawatch: legitimate populations, hard negatives and hydra campaigns.

Pure generation transforms (Spark column expressions over `spark.range`) and the knobs that shape
them; `jobs/simulate.py` is the thin job that writes the landing files and the truth table.
"""

from simulator.config import SimConfig, config_for

__all__ = ["SimConfig", "config_for"]
