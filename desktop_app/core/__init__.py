"""Qt-free core of Hearth: everything a user can do, as plain Python.

Nothing under this package imports PySide6; heavy libraries (llama_cpp, torch,
chromadb, sentence_transformers) are imported inside the functions that use them.
"""
