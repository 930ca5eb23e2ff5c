"""The steps of scripts/ci/docs.sh (entry point: scripts/ci/docs_check.py)."""
