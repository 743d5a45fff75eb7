from datetime import date
from decimal import Decimal

from esteira.formats import date_br, integer_br, money_br, number_br


def test_number_br_uses_dot_thousands_and_comma_decimals():
    assert number_br(Decimal("56333.33")) == "56.333,33"
    assert number_br(Decimal("41416.66")) == "41.416,66"
    assert number_br(None) == "null"


def test_money_integer_and_date():
    assert money_br(1000) == "R$ 1.000,00"
    assert integer_br(1234567) == "1.234.567"
    assert date_br(date(2024, 5, 28)) == "28/05/2024"
