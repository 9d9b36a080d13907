"""The daemon of ``mobwrite.tac``, with the revision log on or off: the
daemon of benchmarks/history_cpu.py (options from $MOBWRITE_OPTIONS, as
there; $MOBWRITE_HISTORY=off keeps no history).

No command-line option turns history off (``--history-keep 0`` still keeps
the log, pruned at once, so that revision numbers count on); this file
switches the store's recording off, so that the cost of history can be
measured against the same code, started the same way, without it.
"""

import os
import shlex

from twisted.application.service import Application

from mobwrite.daemon import tap

options = tap.Options()
options.parseOptions(shlex.split(os.environ.get("MOBWRITE_OPTIONS", "")))
application = Application("mobwrite")
daemon = tap.makeService(options)
daemon.store.history = os.environ.get("MOBWRITE_HISTORY", "on") != "off"
daemon.setServiceParent(application)
