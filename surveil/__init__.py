"""surveil: an evidence-grade recorder for acceptance-counter cameras."""

__version__ = "0.1.0"
