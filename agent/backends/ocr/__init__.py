"""The OCR grounder: reads the screen (engine, reader), matches text and fields, follows a literal plan (grammar)."""
