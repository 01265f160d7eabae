"""ComfyUI workflows: the pure logic shared by the API (importing a workflow) and the GPU agent (running one)."""
