"""The Hugging Face Hub: search, repository pages, remote headers, downloads."""
