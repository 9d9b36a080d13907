"""The WSGI entry point that platforms look for, ``wsgi.application``: see mobwrite.wsgi."""

from mobwrite.wsgi import application

__all__ = ["application"]
