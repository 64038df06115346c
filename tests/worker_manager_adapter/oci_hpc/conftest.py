import pytest

pytest.importorskip("oci")

from tests.worker_manager_adapter.oci_standin.fixtures import oci_config_file, standin

__all__ = ["oci_config_file", "standin"]
