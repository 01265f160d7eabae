"""Usage totals per user: counted off the request path from the table stream, reported by GET /api/usage."""
