"""What an operator watches: Prometheus metrics (per app, never the global registry)."""
