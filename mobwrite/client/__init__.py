"""A MobWrite client library: the client half of Differential Synchronization.

Modules: ``urls`` (server URLs), ``operations`` (download, upload,
nullify, sync as I/O-free steps), ``blocking`` (``BlockingClient`` on
sockets and urllib) and ``txclient`` (``TwistedClient``, Deferreds).  The
algorithm itself is ``mobwrite.client.session.ClientSession``.
"""
