"""The simulated hardware around the module.

The device writes no bytecode: the module's integrity test must check every cached ``.pyc`` the
interpreter would load (module/integrity.py), and a device that writes none leaves none to check.
"""

import sys

sys.dont_write_bytecode = True
