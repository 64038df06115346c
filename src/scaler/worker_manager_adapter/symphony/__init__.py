"""``scaler_worker_manager symphony``: each task runs as a SOAM task of an IBM Spectrum Symphony service."""
