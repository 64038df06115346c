"""Parsing --policy-content: every accepted form, and every malformed one failing with a one-line message."""

from __future__ import annotations

import re

import pytest

from scaler.scheduler.policy import PolicyConfigError, SimplePolicyEngine, WaterfallPolicyEngine, make_policy_engine
from scaler.scheduler.policy.content import WaterfallRule, parse_simple_content, parse_waterfall_content


def test_policy_config_error_is_a_value_error() -> None:
    assert issubclass(PolicyConfigError, ValueError)


@pytest.mark.parametrize(
    "content",
    [
        "allocate=even_load; scaling=vanilla",
        "scaling=vanilla;allocate=even_load",
        "  allocate = even_load ;   scaling =vanilla  ",
        "allocate=even_load; scaling=vanilla;",
    ],
)
def test_simple_content_accepts_whitespace_order_and_trailing_separator(content: str) -> None:
    parsed = parse_simple_content(content)
    assert (parsed.allocate, parsed.scaling) == ("even_load", "vanilla")


@pytest.mark.parametrize("allocate", ["even_load", "capability"])
@pytest.mark.parametrize("scaling", ["no", "vanilla", "capability"])
def test_every_simple_combination_builds_an_engine(allocate: str, scaling: str) -> None:
    engine = make_policy_engine("simple", f"allocate={allocate}; scaling={scaling}")
    assert isinstance(engine, SimplePolicyEngine)
    assert engine.allocation == allocate
    assert engine.scaling == scaling


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("scaling=no", "missing key 'allocate' in 'scaling=no'"),
        ("allocate=even_load", "missing key 'scaling' in 'allocate=even_load'"),
        ("", "missing key 'allocate', 'scaling'"),
        ("allocate=even_load; scaling=no; allocate=capability", "duplicate key 'allocate'"),
        (
            "allocate=even_load; scaling=no; speed=fast",
            "unknown key 'speed' in 'speed=fast' (allowed keys: allocate, scaling)",
        ),
        ("allocate=even_load; scaling", "expected key=value, got 'scaling'"),
        ("allocate=round_robin; scaling=no", "invalid allocate 'round_robin' (allowed: even_load, capability)"),
        ("allocate=even_load; scaling=fast", "invalid scaling 'fast' (allowed: no, vanilla, capability)"),
        ("allocate=even_load; scaling=", "invalid scaling '' (allowed: no, vanilla, capability)"),
    ],
)
def test_malformed_simple_content_fails_with_a_one_line_message(content: str, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=re.escape(message)) as caught:
        make_policy_engine("simple", content)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith("simple policy content: ")


def test_unknown_engine_type_names_the_allowed_types() -> None:
    with pytest.raises(
        PolicyConfigError, match=re.escape("unknown policy engine type 'fancy' (allowed: simple, waterfall_v1)")
    ):
        make_policy_engine("fancy", "allocate=even_load; scaling=no")


def test_waterfall_rules_by_line_with_comments_and_optional_concurrency() -> None:
    content = """
    # on-premise first
    1, on_prem

    2,cloud,64
    # the last resort
    3,spot,-1
    """
    assert parse_waterfall_content(content) == (
        WaterfallRule(1, "on_prem", None),
        WaterfallRule(2, "cloud", 64),
        WaterfallRule(3, "spot", -1),
    )


def test_waterfall_rules_separated_by_semicolons_for_a_toml_one_liner() -> None:
    assert parse_waterfall_content("1,on_prem; 2,cloud,64;") == (
        WaterfallRule(1, "on_prem", None),
        WaterfallRule(2, "cloud", 64),
    )


def test_waterfall_comment_may_contain_a_semicolon_and_pieces_may_be_comments() -> None:
    content = "# cheap first; cloud last\n1,a; # then\n2,b,0"
    assert parse_waterfall_content(content) == (WaterfallRule(1, "a", None), WaterfallRule(2, "b", 0))


def test_waterfall_engine_is_built_with_capability_allocation() -> None:
    engine = make_policy_engine("waterfall_v1", "1,a")
    assert isinstance(engine, WaterfallPolicyEngine)
    assert engine.allocation == "capability"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "waterfall_v1 policy content has no rules: ''"),
        ("# only a comment\n\n", "waterfall_v1 policy content has no rules"),
        ("1", "waterfall_v1 rule 1 '1': expected 2 or 3 comma-separated fields"),
        ("1,a,2,3", "waterfall_v1 rule 1 '1,a,2,3': expected 2 or 3 comma-separated fields"),
        ("1,a\nhigh,b", "waterfall_v1 rule 2 'high,b': priority must be an integer, got 'high'"),
        ("1.5,a", "priority must be an integer, got '1.5'"),
        ("1,a,many", "waterfall_v1 rule 1 '1,a,many': max_task_concurrency must be an integer, got 'many'"),
        ("1,a,", "max_task_concurrency must be an integer, got ''"),
        ("1, ,4", "waterfall_v1 rule 1 '1, ,4': empty worker manager id"),
        ("1,a\n2,a", "waterfall_v1 rule 2 '2,a': duplicate worker manager id 'a'"),
        ("1,a,-2", "invalid max_task_concurrency '-2' (allowed: 0 or more, or -1 for unlimited)"),
    ],
)
def test_malformed_waterfall_content_fails_with_a_one_line_message(content: str, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=re.escape(message)) as caught:
        make_policy_engine("waterfall_v1", content)
    assert "\n" not in str(caught.value)


def test_waterfall_format_error_shows_the_expected_format() -> None:
    with pytest.raises(PolicyConfigError, match=re.escape("priority,worker_manager_id[,max_task_concurrency]")):
        make_policy_engine("waterfall_v1", "a")
