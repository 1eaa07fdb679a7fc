from __future__ import annotations

import pytest

from zhongtai.demo.check_digits import ean13, imei, is_valid_ean13, is_valid_imei, luhn_check_digit


@pytest.mark.parametrize("code", ["4006381333931", "9780306406157", "6901028075831"])
def test_known_ean13_codes_are_valid(code: str) -> None:
    assert is_valid_ean13(code)
    assert ean13(code[:12]) == code


def test_a_wrong_ean13_check_digit_is_caught() -> None:
    assert not is_valid_ean13("4006381333932")
    assert not is_valid_ean13("400638133393")


def test_known_imei_is_valid() -> None:
    # The worked example of the IMEI check digit (3GPP TS 23.003 annex B).
    assert luhn_check_digit("49015420323751") == 8
    assert is_valid_imei("490154203237518")
    assert not is_valid_imei("490154203237517")


def test_imei_builds_from_tac_and_serial() -> None:
    code = imei("86123456", 42)
    assert code.startswith("86123456000042")
    assert is_valid_imei(code)


def test_bad_bodies_are_refused() -> None:
    with pytest.raises(ValueError, match="12 digits"):
        ean13("69123")
    with pytest.raises(ValueError, match="6 digits"):
        imei("86123456", 1_000_000)
