"""Models and persistence."""
