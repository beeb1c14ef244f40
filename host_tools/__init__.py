"""The host side of cmsim. Its modules log through ``logging.getLogger(__name__)``; the NullHandler
keeps logging's last-resort handler from printing their warnings when the application configured
no logging (the CLI's stderr stays as it was); handlers and levels are the application's."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
