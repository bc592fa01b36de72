"""Policies translated to the libraries that run them: pyrate-limiter and tenacity."""

from .rate_limiter import RateLimiter

__all__ = ["RateLimiter"]
