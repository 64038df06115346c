"""Compatibility path: libraries written for Scaler (parfun) import ``scaler.worker.agent.processor.processor``.

Our processor lives in ``scaler.worker.processor``; this package only points there, so those imports keep
working without the worker's layout bending around them.
"""
