"""pydantic models for everything that crosses a boundary: API, table items, queue messages, events."""
