"""``from scaler.worker.agent.processor.processor import Processor``, as parfun's Scaler backends write it.

The name is the same class as ``scaler.worker.processor.Processor`` (not a copy or a subclass), so
``Processor.get_current_processor()`` answers for the task running in this process, and None outside a task.
"""

from scaler.worker.processor import Processor

__all__ = ["Processor"]
