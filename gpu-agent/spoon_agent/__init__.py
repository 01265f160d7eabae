"""Spoon Feeder's GPU agent: long-polls the gpu-tasks lane, drives Ollama, heartbeats its inventory."""

__version__ = "0.1.0"
