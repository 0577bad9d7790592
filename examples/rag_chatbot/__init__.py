"""The example RAG chatbot: ``python -m examples.rag_chatbot --help``."""
