"""``python -m mobwrite``: the command-line tools."""

from mobwrite.tools.main import main

raise SystemExit(main())
