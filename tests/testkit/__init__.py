"""Helpers the tests import (on the test path by `pythonpath` in pyproject.toml): a tiny model
registered in one call, a small synthetic world of feature, label and truth tables."""
