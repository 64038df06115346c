"""``scaler_worker_manager oci_hpc``: each task runs in its own OCI Container Instance.

The manager is one worker to the scheduler (the shared job proxy, ``job_proxy/``); ``backend.py`` turns each task
into a payload object in OCI Object Storage and a container instance whose ``job_runner`` runs it and writes the
result object back. ``utility/provisioner.py`` creates what this needs in a tenancy and builds the runner image.
"""
