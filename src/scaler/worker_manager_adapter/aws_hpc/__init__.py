"""``scaler_worker_manager aws_hpc``: each task runs as an AWS Batch job; payloads and results travel via S3."""
