"""Spoon Feeder core: the domain, data access and contracts shared by every function and the GPU agent."""

__version__ = "0.1.0"
