"""The PySide6 GUI. Talks to ``desktop_app.core``; never the other way round."""
