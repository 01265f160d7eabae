"""Data access: DynamoDB, SQS, S3 and friends. Nothing here decides; it stores and fetches."""
