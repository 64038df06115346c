"""Watching a scheduler: ``scaler_top`` (a terminal) and ``scaler_gui`` (a web page), both fed by the status the
scheduler publishes once a second at its monitor address (``scaler.protocol.status``)."""
