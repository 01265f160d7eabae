"""Presets (the seeds' "profiles"): saved task settings with a prompt template and a fallback chain."""
