"""Drop-in backend for the music servers' AudioMuse-AI plugins (see docs/integration.md)."""
