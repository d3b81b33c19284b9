"""Example process configurations shipped with ecmsim (TOML data, no code)."""
