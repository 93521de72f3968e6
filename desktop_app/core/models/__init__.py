"""Model files on this computer: GGUF headers, file names and sidecars, the library, fingerprints."""
