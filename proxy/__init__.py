"""balena API v6 → v7 translating reverse proxy."""

__version__ = "0.1.0"
