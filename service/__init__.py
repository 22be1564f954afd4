"""The HTTP service: FastAPI app, settings, batching, model runtime, metrics, errors."""
