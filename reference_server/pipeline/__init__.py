"""Task processing: the worker, audio conversion, transcription engines, diarization."""
