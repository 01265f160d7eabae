"""One provider interface with an adapter per provider, each on its official SDK, imported lazily."""
