"""Adapters shared by the services: Redis connection, event store, read model, ledger."""
