"""Live view: WebSocket connections, topic subscriptions, and pushing recorded events to them."""
