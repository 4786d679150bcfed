"""The TESmart unit's settings in the state file (``tesmart``): each bad entry is reset to
its factory value with the reason, the good ones are kept, and nothing raises."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kvmswitchd.savedstate import read_saved_state
from kvmswitchd.serial.tesmart_unit import UnitSettings, read_settings
from tests.validate.test_saved_state import JSON

SAVED = {
    "buzzer": False,
    "led_timeout": 30,
    "auto_detect": True,
    "ip": "10.0.0.5",
    "gateway": "10.0.0.1",
    "netmask": "255.255.0.0",
    "port": 5001,
}


def test_saved_settings_load_whole_and_save_back_the_same() -> None:
    state, resets = read_saved_state({"tesmart": SAVED}, 4)
    assert resets == ()
    assert state.tesmart == UnitSettings(
        buzzer=False,
        led_timeout=30,
        auto_detect=True,
        ip=(10, 0, 0, 5),
        gateway=(10, 0, 0, 1),
        netmask=(255, 255, 0, 0),
        port=5001,
    )
    assert state.tesmart.to_json() == SAVED


def test_each_bad_entry_is_reset_with_its_reason_and_the_rest_is_kept() -> None:
    doc = {
        **SAVED,
        "buzzer": "yes",
        "led_timeout": 5,
        "ip": "300.1.1.1",
        "netmask": ["255"],
        "port": 0,
        "x" * 100: 1,
    }
    state, resets = read_saved_state({"tesmart": doc}, 4)
    whats = {r.what: r.why for r in resets}
    assert set(whats) == {
        "tesmart.buzzer",
        "tesmart.led_timeout",
        "tesmart.ip",
        "tesmart.netmask",
        "tesmart.port",
        "tesmart." + "x" * 40 + "…",
    }
    assert whats["tesmart.ip"] == (
        "expected a dotted IPv4 address, got '300.1.1.1'; back to the factory value"
    )
    factory = UnitSettings()
    assert (state.tesmart.buzzer, state.tesmart.ip, state.tesmart.port) == (
        factory.buzzer,
        factory.ip,
        factory.port,
    )
    assert (state.tesmart.auto_detect, state.tesmart.gateway) == (True, (10, 0, 0, 1))


def test_a_tesmart_entry_that_is_not_an_object_is_reset_whole() -> None:
    state, resets = read_saved_state({"tesmart": [1, 2]}, 4)
    assert [(r.what, r.why) for r in resets] == [
        ("tesmart", "expected an object, got an array; back to the factory value")
    ]
    assert state.tesmart == UnitSettings()


FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "buzzer": JSON,
        "led_timeout": JSON | st.sampled_from([0, 10, 30, True]),
        "auto_detect": JSON,
        "ip": JSON | st.sampled_from(["1.2.3.4", "001.002.003.004", "1.2.3.256", "1.2.3"]),
        "gateway": JSON,
        "netmask": JSON,
        "port": JSON | st.integers(min_value=-1, max_value=70000),
        "other": JSON,
    },
)


@given(doc=JSON | FIELDS)
def test_any_json_loads_valid_settings_and_what_is_saved_next_loads_clean(doc: Any) -> None:
    settings, _resets = read_settings(json.loads(json.dumps(doc)))
    again, more = read_settings(json.loads(json.dumps(settings.to_json())))
    assert (again, more) == (settings, ())
