"""Documents: answers grounded in the user's own files, with citations to file and page.

The pipeline, one module per step:

``parsers``   file -> text blocks (a PDF page each), with headings and page numbers
``chunking``  text -> chunks counted in the embedding model's own tokens, with overlap
``embedder``  chunks -> vectors (sentence-transformers, offline), on a backend of ``embed_backends``
``embed_onnx`` the model exported once to ONNX and run by onnxruntime (the default backend)
``store``     collections, their sources, and the manifest of indexed files (SQLite) + vectors (Chroma)
``remote_store`` collections on a Chroma server, shared by several clients
``ingest``    the pipelined indexer: parse in one thread, embed and write in another
``watch``     a polling scan that finds new, changed and deleted files
``retrieve``  hybrid search: vectors + BM25, fused by reciprocal rank, optional reranking
``answer``    prompt assembly within the context budget, citations, the retrieval inspector
``config``    the documents settings (default model, chunk sizes, top k, threshold, reranker)

Nothing here imports Qt; heavy libraries (torch, sentence_transformers, chromadb, onnxruntime) are
imported inside the functions that need them.
"""
