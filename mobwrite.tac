"""Run with ``twistd -ny mobwrite.tac``; options come from $MOBWRITE_OPTIONS.

It builds the same service tree as ``twistd -n mobwrite``.
"""

import os
import shlex

from twisted.application.service import Application

from mobwrite.daemon import tap

options = tap.Options()
options.parseOptions(shlex.split(os.environ.get("MOBWRITE_OPTIONS", "")))
application = Application("mobwrite")
tap.makeService(options).setServiceParent(application)
