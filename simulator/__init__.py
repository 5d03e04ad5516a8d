"""Synthetic API traffic for Hydrawatch: legitimate populations, hard negatives and hydra campaigns.

Pure generation transforms (Spark column expressions over `spark.range`) and the knobs that shape
them: `simulator.config.config_for` builds a world, `simulator.styles` holds the campaign styles.
`jobs/simulate.py` is the thin job that writes the landing files and the truth table. The package
imports only the core (`hydrawatch`: settings, errors, contracts, spark) and pyspark; nothing in
`hydrawatch`, `features` or `models` imports it.
"""
