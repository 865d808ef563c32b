"""Flower federation: ServerApp, ClientApp, algorithms, per-client results."""
