from __future__ import annotations

from typing import Any

import pytest

from sandbox.errors import SettingsError
from sandbox.settings import (
    DEFAULT_INDEXES,
    INDEX_CANDIDATES,
    KeySpec,
    Settings,
    all_keys,
    apply_assignments,
    format_value,
    key_spec,
    parse_assignment,
    parse_value,
)

ALL_KEYS = all_keys()


def _sample_values(spec: KeySpec) -> list[Any]:
    """The default plus values at the edges of what the key accepts."""
    values: list[Any] = [spec.default]
    if spec.kind == "bool":
        values += [True, False]
    elif spec.kind == "choice":
        values += list(spec.choices)
    elif spec.kind == "int":
        assert spec.lo is not None and spec.hi is not None
        values += [int(spec.lo), int(spec.hi), int((spec.lo + spec.hi) // 2)]
    elif spec.kind == "float":
        assert spec.lo is not None and spec.hi is not None
        values += [float(spec.lo), float(spec.hi), spec.hi / 2]
    elif spec.kind == "indexes":
        values += [(), INDEX_CANDIDATES, ("users.email",), DEFAULT_INDEXES]
    elif spec.kind == "text":
        values += ["", "redis://127.0.0.1:6379/0"]
    return values


def test_all_keys_is_stable_and_complete() -> None:
    keys = [s.key for s in ALL_KEYS]
    assert len(keys) == len(set(keys))
    assert keys == list(Settings().as_dict())
    assert keys[0] == "cache.strategy"
    for spec in ALL_KEYS:
        assert spec.key == f"{spec.section}.{spec.name}"
        assert spec.help
        assert Settings().get(spec.key) == spec.default


@pytest.mark.parametrize("spec", ALL_KEYS, ids=[s.key for s in ALL_KEYS])
def test_every_key_round_trips_through_text(spec: KeySpec) -> None:
    for value in _sample_values(spec):
        text = format_value(value)
        parsed = parse_value(spec, text)
        assert parsed == value, (spec.key, value, text)
        assert type(parsed) is type(value)
        # And through the CLI path.
        assert apply_assignments(Settings(), [f"{spec.key}={text}"]).get(spec.key) == value


def test_kinds_are_inferred_from_annotations() -> None:
    assert key_spec("cache.strategy").kind == "choice"
    assert key_spec("cache.strategy").choices == (
        "off", "cache_aside", "read_through", "write_through", "write_behind",
    )
    assert key_spec("cache.ttl_s").kind == "float"
    assert key_spec("topology.instances").kind == "int"
    assert key_spec("dns.cache").kind == "bool"
    assert key_spec("db.indexes").kind == "indexes"
    assert (key_spec("topology.instances").lo, key_spec("topology.instances").hi) == (1, 32)


def test_apply_assignments_with_valid_values() -> None:
    base = Settings()
    s = apply_assignments(
        base,
        [
            "cache.strategy=cache_aside",
            "topology.instances=4",
            "network.jitter=0.5",
            "dns.cache=off",
            "db.indexes=users.email",
            " lb.algorithm = hash ",
        ],
    )
    assert s.get("cache.strategy") == "cache_aside"
    assert s.get("topology.instances") == 4
    assert isinstance(s.get("topology.instances"), int)
    assert s.get("network.jitter") == 0.5
    assert s.get("dns.cache") is False
    assert s.get("db.indexes") == ("users.email",)
    assert s.get("lb.algorithm") == "hash"
    # Untouched keys keep their values, and the original is not modified.
    assert s.get("cache.ttl_s") == base.get("cache.ttl_s")
    assert s.get("topology.concurrency") == base.get("topology.concurrency")
    assert base.get("cache.strategy") == "off"
    assert base.get("topology.instances") == 2


def test_later_assignment_wins() -> None:
    s = apply_assignments(Settings(), ["topology.instances=3", "topology.instances=5"])
    assert s.get("topology.instances") == 5


def test_no_assignments_gives_equal_settings() -> None:
    assert apply_assignments(Settings(), []) == Settings()


def test_value_may_contain_equals_sign() -> None:
    # Only the first '=' separates key and value.
    with pytest.raises(SettingsError, match=r"bad value 'a=b' for cache\.strategy"):
        parse_assignment("cache.strategy=a=b")


def test_unknown_key_lists_valid_keys_and_suggests_close_match() -> None:
    with pytest.raises(SettingsError) as info:
        apply_assignments(Settings(), ["cach.strategy=cache_aside"])
    message = str(info.value)
    assert "unknown setting 'cach.strategy'" in message
    assert "Did you mean 'cache.strategy'?" in message
    for spec in ALL_KEYS:
        assert spec.key in message


def test_unknown_key_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(SettingsError) as info:
        key_spec("zzzzzzzz")
    assert "Did you mean" not in str(info.value)
    assert "topology.instances" in str(info.value)


def test_bad_choice_lists_choices() -> None:
    with pytest.raises(SettingsError) as info:
        apply_assignments(Settings(), ["cache.eviction=random"])
    message = str(info.value)
    assert "cache.eviction" in message
    assert "'random'" in message
    for choice in ("lru", "lfu", "fifo"):
        assert choice in message


def test_bad_choice_suggests_close_match() -> None:
    with pytest.raises(SettingsError, match="did you mean 'cache_aside'"):
        parse_assignment("cache.strategy=cache_asid")


def test_choice_is_case_insensitive() -> None:
    assert parse_assignment("cache.eviction=LFU") == ("cache.eviction", "lfu")


@pytest.mark.parametrize(
    ("assignment", "bounds"),
    [
        ("topology.instances=0", "from 1 to 32"),
        ("topology.instances=33", "from 1 to 32"),
        ("ratelimit.burst=-1", "from 0 to 1000000"),
        ("network.jitter=1.5", "from 0 to 1"),
        ("network.jitter=-0.1", "from 0 to 1"),
        ("ratelimit.window_s=0.0001", "from 0.001 to 3600"),
    ],
)
def test_out_of_range_numbers_mention_bounds(assignment: str, bounds: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_assignment(assignment)
    message = str(info.value)
    # Thousands separators are presentation; the numbers themselves must be there.
    assert bounds in message.replace(",", "")
    assert assignment.split("=")[0] in message


def test_bounds_are_inclusive() -> None:
    assert parse_assignment("topology.instances=1")[1] == 1
    assert parse_assignment("topology.instances=32")[1] == 32
    assert parse_assignment("network.jitter=0")[1] == 0.0
    assert parse_assignment("network.jitter=1")[1] == 1.0


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "infinity"])
def test_nan_and_infinity_rejected(text: str) -> None:
    # cache.ttl_s has bounds; check an unbounded-looking large range too.
    with pytest.raises(SettingsError, match="expected a number"):
        parse_assignment(f"cache.ttl_s={text}")
    with pytest.raises(SettingsError):
        parse_assignment(f"network.latency_ms={text}")


@pytest.mark.parametrize("text", ["abc", "3.5", "", "1e3"])
def test_int_keys_reject_non_integers(text: str) -> None:
    with pytest.raises(SettingsError, match="expected a whole number"):
        parse_assignment(f"topology.instances={text}")


def test_float_keys_reject_non_numbers() -> None:
    with pytest.raises(SettingsError, match="expected a number from 0 to 1"):
        parse_assignment("network.jitter=lots")


def test_float_keys_accept_integers_as_float() -> None:
    value = parse_assignment("cache.ttl_s=45")[1]
    assert value == 45.0
    assert isinstance(value, float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on", True), ("off", False), ("true", True), ("false", False),
        ("1", True), ("0", False), ("yes", True), ("no", False),
        ("ON", True), (" Off ", False), ("TRUE", True), ("No", False),
    ],
)
def test_bool_parsing(text: str, expected: bool) -> None:
    assert parse_value(key_spec("dns.cache"), text) is expected


@pytest.mark.parametrize("text", ["maybe", "2", "", "enabled"])
def test_bad_bool_rejected(text: str) -> None:
    with pytest.raises(SettingsError, match="expected on \\| off"):
        parse_value(key_spec("dns.cache"), text)


def test_indexes_none_and_default() -> None:
    spec = key_spec("db.indexes")
    assert parse_value(spec, "none") == ()
    assert parse_value(spec, "NONE") == ()
    assert parse_value(spec, "") == ()
    assert parse_value(spec, "default") == DEFAULT_INDEXES
    assert "products.category" not in DEFAULT_INDEXES


def test_indexes_duplicates_removed_and_order_normalised() -> None:
    spec = key_spec("db.indexes")
    parsed = parse_value(spec, "users.email, orders.customer_id,users.email,PRODUCTS.CATEGORY")
    assert parsed == ("orders.customer_id", "users.email", "products.category")
    assert parse_value(spec, ",".join(reversed(INDEX_CANDIDATES))) == INDEX_CANDIDATES


def test_unknown_index_rejected() -> None:
    with pytest.raises(SettingsError) as info:
        parse_assignment("db.indexes=users.email,users.name")
    message = str(info.value)
    assert "unknown index 'users.name'" in message
    for name in INDEX_CANDIDATES:
        assert name in message


@pytest.mark.parametrize("text", ["x", "cache.strategy", ""])
def test_assignment_without_equals_rejected(text: str) -> None:
    with pytest.raises(SettingsError, match="is not key=value"):
        apply_assignments(Settings(), [text])


def test_format_value() -> None:
    assert format_value(True) == "on"
    assert format_value(False) == "off"
    assert format_value(()) == "none"
    assert format_value(("a", "b")) == "a,b"
    assert format_value(30.0) == "30"
    assert format_value(0.25) == "0.25"
    assert format_value(7) == "7"
    assert format_value("lru") == "lru"


def test_replace_sets_typed_values() -> None:
    base = Settings()
    s = base.replace(
        {
            "topology.instances": 8,
            "dns.cache": False,
            "db.indexes": (),
            "network.jitter": 0.0,
            "cache.strategy": "write_through",
        }
    )
    assert s.get("topology.instances") == 8
    assert s.get("dns.cache") is False
    assert s.get("db.indexes") == ()
    assert s.get("network.jitter") == 0.0
    assert s.get("cache.strategy") == "write_through"
    assert base == Settings()


def test_replace_validates_like_the_cli() -> None:
    with pytest.raises(SettingsError, match="from 1 to 32"):
        Settings().replace({"topology.instances": 100})
    with pytest.raises(SettingsError, match="unknown setting"):
        Settings().replace({"topology.instancez": 2})
    with pytest.raises(SettingsError):
        Settings().replace({"cache.strategy": "sometimes"})


def test_replace_keeps_float_precision() -> None:
    # `replace` promises typed values; it must not round them on the way through text.
    s = Settings().replace({"network.jitter": 0.123456789, "cache.ttl_s": 12345.67})
    assert s.get("network.jitter") == 0.123456789
    assert s.get("cache.ttl_s") == 12345.67


def test_get_unknown_key_raises() -> None:
    with pytest.raises(SettingsError, match="unknown setting 'nope'"):
        Settings().get("nope")


def test_as_dict() -> None:
    d = Settings().as_dict()
    assert list(d) == [s.key for s in ALL_KEYS]
    assert d["cache.strategy"] == "off"
    assert d["topology.instances"] == 2
    assert d["db.indexes"] == DEFAULT_INDEXES
    assert d["dns.cache"] is True
    changed = Settings().replace({"topology.instances": 6}).as_dict()
    assert changed["topology.instances"] == 6


def test_diff() -> None:
    a = Settings()
    b = apply_assignments(a, ["cache.strategy=read_through", "topology.instances=3"])
    assert a.diff(a) == {}
    assert a.diff(b) == {
        "cache.strategy": ("off", "read_through"),
        "topology.instances": (2, 3),
    }
    assert b.diff(a) == {
        "cache.strategy": ("read_through", "off"),
        "topology.instances": (3, 2),
    }


def test_describe() -> None:
    assert key_spec("cache.eviction").describe() == "lru | lfu | fifo"
    assert key_spec("dns.cache").describe() == "on | off"
    assert key_spec("topology.instances").describe() == "a whole number from 1 to 32"
    assert key_spec("network.jitter").describe() == "a number from 0 to 1"
    assert key_spec("db.indexes").describe().endswith("; or none")


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.topology.instances = 5  # type: ignore[misc]


def test_redis_url() -> None:
    assert Settings().get("redis.url") == ""
    url = "redis://127.0.0.1:6379/1"
    assert parse_assignment(f"redis.url={url}") == ("redis.url", url)
    assert parse_assignment("redis.url=") == ("redis.url", "")
    for bad in ("http://127.0.0.1:6379", "127.0.0.1:6379", "redis://"):
        with pytest.raises(SettingsError, match=r"for redis\.url"):
            parse_assignment(f"redis.url={bad}")
