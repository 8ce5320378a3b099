"""heurist: shared memory for code assistants."""
