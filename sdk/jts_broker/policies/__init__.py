"""Policies translated to the libraries that run them: pyrate-limiter and tenacity."""

from .rate_limiter import RateLimiter, RateLimitUsage, WindowUsage

__all__ = ["RateLimitUsage", "RateLimiter", "WindowUsage"]
