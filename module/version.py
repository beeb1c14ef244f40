"""Module identification, shown by GET_STATUS / GET_VERSION and bound into the audit genesis."""

MODULE_NAME = "cmsim"
FIRMWARE_VERSION = "0.1.0"
