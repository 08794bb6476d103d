"""The demo: the seed story end to end, with example filings written by the project."""
