"""gunicorn settings for the mobwrite WSGI gateway.

Run ``gunicorn --config deploy/gunicorn.conf.py``; the daemon must be
running (``twistd -n mobwrite``).  The gateway reads MOBWRITE_DAEMON and
the other MOBWRITE_* variables from the environment the process manager
gives it (deploy/supervisord.conf); they are not set here, so that the
environment always wins.
"""

wsgi_app = "mobwrite.wsgi:application"
# Next to the daemon's own ports (3017 TCP, 8017 gateway, 8000 editor);
# a reverse proxy in front publishes it (deploy/nginx.conf).
bind = "127.0.0.1:8018"
# Each request waits on the daemon's socket, so threads, not CPU, are the
# resource: a few processes with many threads each.
workers = 2
worker_class = "gthread"
threads = 16
# Longer than the gateway's longest wait for the daemon: MOBWRITE_TIMEOUT
# (10 s) to connect, and again for the answer.
timeout = 30
graceful_timeout = 15
control_socket_disable = True
accesslog = "-"
