"""What the two OCI worker managers share: the container-instance options, the SDK gateway, retry pacing.

``oci_raw`` runs whole workers in container instances; ``oci_hpc`` runs one task per container instance.
Only ``gateway.py`` imports the ``oci`` SDK, and only when a manager starts, so that ``--help`` and config
checks work without the ``[oci]`` extra.
"""
