"""Running a model: the llama.cpp engine, its abort flag, and the load probe."""
