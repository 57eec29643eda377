"""Analysis of the collected files (the optional ``analysis`` extra); the collector never imports it."""

from .performance import performance, plot_performance

__all__ = ["performance", "plot_performance"]
