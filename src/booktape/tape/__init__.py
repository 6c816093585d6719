"""The tape: journals that survive crashes, sealed Parquet parts, manifests."""
