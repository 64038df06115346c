"""A local stand-in of the OCI services the oci_raw and oci_hpc managers call, driven by the real SDK (see
standin.py)."""
