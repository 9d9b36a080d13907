"""The sync algorithm without I/O: wire encoding, requests, the store and the engine.

Nothing here imports Twisted, the storage or the daemon, or reads a clock:
every function that needs the time takes ``now``.
"""
