"""Runnable examples: the RAG chatbot, a local OpenAI-compatible LLM server and a load generator."""
