"""Benchmarks: a load generator of simulated editors, a baseline server, the runner."""
