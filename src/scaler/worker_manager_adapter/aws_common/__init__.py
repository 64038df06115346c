"""What the AWS worker managers share: importing boto3 with a clear message, and the fixed-worker command."""
