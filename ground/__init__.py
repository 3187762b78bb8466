"""Shared pieces that import no app of the project (the import contracts in pyproject.toml
check it). See ground/apps.py and README, "Architecture"."""
