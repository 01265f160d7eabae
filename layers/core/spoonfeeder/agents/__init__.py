"""The GPU agents' fleet as the API sees it: who is alive, which Ollama models they have, and commands to them."""
