"""The ``mobwrite`` command-line tools: download, upload, nullify, sync, watch, loadtest."""
