"""Keeping the store on disk: the SQLite database, the commit journal, group commit."""
