"""The six steps of a lab run (see host_tools/lab/harness.py)."""
