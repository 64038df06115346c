"""``scaler_gui``: a web page that shows a scheduler live (``server`` serves it; ``model`` is what it shows)."""
