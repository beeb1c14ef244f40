"""The validation-lab harness (`cmsim lab run`) and the ACVP module wrapper (`cmsim acvp-wrapper`).

Everything here works through the wire (``module.wire`` and the host client) and the lab port of a
device started with ``--lab``; see docs/lab.md.
"""
