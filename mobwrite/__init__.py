"""mobwrite: real-time synchronisation of text by Differential Synchronization."""

__version__ = "0.1.0"
