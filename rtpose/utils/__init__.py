"""Small helpers with no rtpose dependency: timing and file hashing."""
