"""Batch jobs: JSONL files in S3, one task per line, a JSONL of results out."""
