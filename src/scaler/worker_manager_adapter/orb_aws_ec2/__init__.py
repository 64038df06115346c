"""``scaler_worker_manager orb_aws_ec2``: workers on EC2 instances requested through ORB (Open Resource Broker)."""
