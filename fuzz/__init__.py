"""Coverage-guided fuzz targets (atheris) and the invariants they share with the tests (_harness)."""
