"""``scaler_worker_manager oci_raw``: Scaler workers in OCI Container Instances, scaled by the scheduler.

One unit = one container instance running ``scaler_worker_manager baremetal_native --mode fixed`` with one worker
per OCPU (``provisioner.py``); the shared ``WorkerManagerRunner`` decides how many units to run. The worker image
(``utility/Dockerfile.container_instance``) installs the requirements with uv when a container starts.
"""
