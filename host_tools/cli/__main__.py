"""`python -m host_tools.cli`: the `cmsim` console script."""

from host_tools.cli import main

main()
