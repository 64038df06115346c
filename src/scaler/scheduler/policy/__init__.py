"""The scheduler's policy engine: allocation mode, scaling commands for worker managers, and balancing advice.

Pure code with no I/O and no clock: the scheduler core builds views of its state, asks, and acts on the answer.

- ``views``     the snapshots a policy sees (``ManagerView``, ``DemandView``) and answers with (``DesiredConcurrency``)
- ``content``   parsing ``--policy-content`` (``PolicyConfigError`` on anything malformed)
- ``scaling``   the ``simple`` engine's ``vanilla`` and ``capability`` scaling rules
- ``waterfall`` the ``waterfall_v1`` engine
- ``balance``   ``balance_advice``: queued tasks to take back from busy workers
- ``engine``    the ``PolicyEngine`` protocol and ``make_policy_engine``
"""

from scaler.scheduler.policy.balance import WorkerLoad, balance_advice
from scaler.scheduler.policy.content import PolicyConfigError
from scaler.scheduler.policy.engine import PolicyEngine, SimplePolicyEngine, make_policy_engine
from scaler.scheduler.policy.views import Capabilities, DemandView, DesiredConcurrency, ManagerView
from scaler.scheduler.policy.waterfall import WaterfallPolicyEngine

__all__ = [
    "Capabilities",
    "DemandView",
    "DesiredConcurrency",
    "ManagerView",
    "PolicyConfigError",
    "PolicyEngine",
    "SimplePolicyEngine",
    "WaterfallPolicyEngine",
    "WorkerLoad",
    "balance_advice",
    "make_policy_engine",
]
