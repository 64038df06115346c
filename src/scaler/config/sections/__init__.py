"""One config class per TOML section (worker-manager adapters add theirs by subclassing ``WorkerManagerConfig``)."""

from scaler.config.sections.logging_options import LoggingConfig
from scaler.config.sections.monitor import GuiConfig, TopConfig
from scaler.config.sections.object_storage import ObjectStorageServerConfig
from scaler.config.sections.scheduler import SchedulerConfig
from scaler.config.sections.worker import WorkerConfig
from scaler.config.sections.worker_manager import BaremetalNativeConfig, WorkerManagerConfig

__all__ = [
    "BaremetalNativeConfig",
    "GuiConfig",
    "LoggingConfig",
    "ObjectStorageServerConfig",
    "SchedulerConfig",
    "TopConfig",
    "WorkerConfig",
    "WorkerManagerConfig",
]
