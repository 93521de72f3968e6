"""Will it fit? The memory plan, its badges, and the record of its error against real loads."""
