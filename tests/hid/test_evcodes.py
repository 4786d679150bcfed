"""The static evdev table: matches python-evdev, names round-trip, bad input is InputError."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hid import evcodes
from hid.evcodes import (
    ABS_X,
    BTN_LEFT,
    EV_ABS,
    EV_KEY,
    EV_LED,
    EV_REL,
    EV_SYN,
    KEY_A,
    KEY_MUTE,
    REL_WHEEL_HI_RES,
    SYN_DROPPED,
    code_name,
    parse_code,
    parse_type,
)
from kvmswitchd.errors import InputError
from tests.conftest import require_module
from tests.hid import evcodes_gen


def test_checked_in_table_matches_installed_python_evdev() -> None:
    require_module("evdev", "the generator reads evdev.ecodes")
    from evdev import ecodes

    text = evcodes_gen.TARGET.read_text(encoding="utf-8")
    assert evcodes_gen.current_block(text) == evcodes_gen.render(ecodes), (
        "run: .venv/bin/python -m tests.hid.evcodes_gen"
    )
    assert dict(evcodes_gen.table_entries(ecodes)) == evcodes.CODES


def test_codes_include_aliases_and_every_prefix() -> None:
    assert evcodes.CODES["BTN_MOUSE"] == evcodes.CODES["BTN_LEFT"] == 0x110
    assert evcodes.CODES["KEY_MIN_INTERESTING"] == KEY_MUTE == 113
    prefixes = {n.split("_", 1)[0] for n in evcodes.CODES}
    assert prefixes == {"EV", "SYN", "KEY", "BTN", "REL", "ABS", "MSC", "LED", "REP"}
    assert "KEY_MAX" not in evcodes.CODES
    assert "KEY_CNT" not in evcodes.CODES
    assert "EV_VERSION" not in evcodes.CODES
    assert evcodes.CODES["KEY_BRIGHTNESS_MAX"] == 0x251  # a real key, not a bound


def test_constants_pin_reference_values() -> None:
    assert (EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_LED) == (0, 1, 2, 3, 0x11)
    assert (SYN_DROPPED, REL_WHEEL_HI_RES, ABS_X, BTN_LEFT, KEY_A) == (3, 11, 0, 0x110, 30)
    assert evcodes.KEY_SCROLLLOCK == 70
    assert evcodes.KEY_RIGHTCTRL == 97
    assert evcodes.KEY_CONTEXT_MENU == 438
    assert evcodes.BTN_BACK == 278
    assert evcodes.TYPES["EV_REP"] == 0x14


def test_code_name_prefers_the_kernel_primary_name() -> None:
    assert code_name(EV_KEY, 0x110) == "BTN_LEFT"
    assert code_name(EV_KEY, 113) == "KEY_MUTE"
    assert code_name(EV_KEY, 0x130) == "BTN_SOUTH"
    assert code_name(EV_REL, 8) == "REL_WHEEL"
    assert code_name(EV_SYN, 0) == "SYN_REPORT"


def test_code_name_of_unnamed_code_is_its_number() -> None:
    assert code_name(EV_KEY, 0x2FF) == "767"
    assert code_name(0x1F, 5) == "5"


@given(st.sampled_from(sorted(evcodes.MAX_CODE)), st.data())
def test_code_name_round_trips_through_parse_code(type_: int, data: st.DataObject) -> None:
    code = data.draw(st.integers(0, evcodes.MAX_CODE[type_]))
    assert parse_code(type_, code_name(type_, code)) == code


def test_parse_code_accepts_names_any_case_and_numbers() -> None:
    assert parse_code(EV_KEY, "KEY_A") == 30
    assert parse_code(EV_KEY, " key_a ") == 30
    assert parse_code(EV_KEY, "BTN_MOUSE") == 0x110
    assert parse_code(EV_KEY, "0x1e") == 30
    assert parse_code(EV_KEY, "30") == 30
    assert parse_code(EV_KEY, 30) == 30
    assert parse_code(0x15, 0xFFFF) == 0xFFFF  # EV_FF: no names, any u16


def test_parse_type_accepts_names_and_numbers() -> None:
    assert parse_type("EV_KEY") == 1
    assert parse_type("ev_led") == 0x11
    assert parse_type(2) == 2
    assert parse_type("0x14") == 0x14


@pytest.mark.parametrize(
    ("type_", "value", "message"),
    [
        (EV_KEY, "KEY_NOPE", "unknown event code 'KEY_NOPE'"),
        (EV_KEY, "REL_X", "REL_X is a EV_REL code, not a EV_KEY code"),
        (EV_REL, "KEY_A", "KEY_A is a EV_KEY code, not a EV_REL code"),
        (EV_KEY, 768, "EV_KEY code 768 out of range 0..767"),
        (EV_KEY, -1, "EV_KEY code -1 out of range 0..767"),
        (EV_REL, "16", "EV_REL code 16 out of range 0..15"),
        (0x15, 0x10000, "EV_FF code 65536 out of range 0..65535"),
        (EV_KEY, True, "must be a name or a number"),
        (EV_KEY, 1.5, "must be a name or a number"),
    ],
)
def test_parse_code_rejects_bad_input_with_a_clear_message(
    type_: int, value: object, message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_code(type_, value)  # type: ignore[arg-type]  # bad input on purpose


@pytest.mark.parametrize("value", ["EV_NOPE", "KEY_A", 32, -1, "0x20", None])
def test_parse_type_rejects_bad_input(value: object) -> None:
    with pytest.raises(InputError):
        parse_type(value)  # type: ignore[arg-type]  # bad input on purpose


@given(st.text(max_size=20) | st.integers())
def test_parse_code_never_raises_anything_but_input_error(value: str | int) -> None:
    with contextlib.suppress(InputError):
        parse_code(EV_KEY, value)
