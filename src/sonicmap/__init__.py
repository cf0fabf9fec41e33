"""sonicmap: map a personal music library by sound."""

__version__ = "0.1.0"
