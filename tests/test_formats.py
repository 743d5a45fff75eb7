from datetime import date, datetime
from decimal import Decimal

from esteira.formats import date_br, datetime_br, integer_br, money_br, number_br

NBSP = "\u00a0"  # CLDR pt_BR: R$ and the amount never wrap apart


def test_number_br_uses_dot_thousands_and_comma_decimals():
    assert number_br(Decimal("56333.33")) == "56.333,33"
    assert number_br(Decimal("41416.66")) == "41.416,66"
    assert number_br(Decimal("-0.5"), decimals=1) == "-0,5"
    assert number_br(None) == "null"


def test_money_integer_and_dates():
    assert money_br(1000) == f"R${NBSP}1.000,00"
    assert money_br(Decimal("1234567.891")) == f"R${NBSP}1.234.567,89"
    assert integer_br(1234567) == "1.234.567"
    assert integer_br(25000) == "25.000"
    assert date_br(date(2024, 5, 28)) == "28/05/2024"
    assert datetime_br(datetime(2020, 2, 3, 15, 0)) == "03/02/2020 15:00:00"
    assert datetime_br(datetime(2020, 2, 3, 15, 0), seconds=False) == "03/02/2020 15:00"
