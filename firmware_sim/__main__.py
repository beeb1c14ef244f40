"""`python -m firmware_sim`: the same as `cmsim-device`."""

from firmware_sim.serve import main

main()
