"""The daemon: Twisted front ends (TCP, HTTP gateway, editor site), services and ``tap``."""
