"""Service handlers, one module per domain; :mod:`module.services.catalog` declares them all."""
