"""Dagster software-defined assets, one module per stage. Thin: each calls one genlca function."""
