"""A local OpenAI-compatible LLM server for the demo and the tests: ``python -m examples.llm_server --help``."""

from examples.llm_server.server import LLMServer, ServerConfig, count_tokens, create_app

__all__ = ["LLMServer", "ServerConfig", "count_tokens", "create_app"]
