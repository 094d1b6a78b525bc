"""Platform adapters: each turns native events into neutral ones and renders replies."""
