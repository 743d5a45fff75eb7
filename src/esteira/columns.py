"""Column helpers shared by every system: blanks, e-mails, Brazilian phones and CPFs.

Each helper takes a column (or a column name) and returns a Column, so it composes in
`select`/`withColumn`/`filter` on both engines. None of them collects or logs values.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

ColumnOrName = Column | str

# One '@', no spaces, a dotted domain ending in letters: catches the common export errors
# (missing '@', spaces, missing domain) without pretending to be RFC 5322.
# Written without backslashes so it means the same inside a Spark SQL string literal.
EMAIL_PATTERN = "^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+([.][A-Za-z0-9-]+)*[.][A-Za-z]{2,}$"


def _col(c: ColumnOrName) -> Column:
    return F.col(c) if isinstance(c, str) else c


def is_blank(c: ColumnOrName) -> Column:
    """True for NULL, '' and whitespace-only strings."""
    col = _col(c)
    return col.isNull() | (F.trim(col.cast("string")) == "")


def blank_to_null(c: ColumnOrName) -> Column:
    """Trimmed string, or NULL when blank."""
    col = _col(c)
    return F.when(is_blank(col), F.lit(None).cast("string")).otherwise(F.trim(col.cast("string")))


def is_valid_email(c: ColumnOrName) -> Column:
    """True when the trimmed value looks like an e-mail address; False for blanks."""
    col = F.trim(_col(c).cast("string"))
    return F.coalesce(col.rlike(EMAIL_PATTERN), F.lit(False))


def normalize_phone_br(c: ColumnOrName) -> Column:
    """Digits only, without the +55 country code or a leading trunk 0 (e.g. '11988887777').

    '(11) 98888-7777', '+55 11 98888-7777' and '011 98888 7777' all become '11988887777'.
    NULL stays NULL; a value with no digits becomes ''.
    """
    digits = F.regexp_replace(_col(c).cast("string"), r"[^0-9]", "")
    no_country = F.when(
        (F.length(digits) >= 12) & digits.startswith("55"), F.substring(digits, 3, 20)
    ).otherwise(digits)
    return F.when(
        (F.length(no_country) == 11) & no_country.startswith("0"), F.substring(no_country, 2, 20)
    ).otherwise(no_country)


def is_valid_phone_br(c: ColumnOrName) -> Column:
    """True for a Brazilian number with area code: 10 digits (landline) or 11 with a 9
    after the area code (mobile); area codes run from 11 to 99."""
    phone = normalize_phone_br(c)
    area_ok = phone.rlike(r"^[1-9][1-9]")
    landline = (F.length(phone) == 10) & phone.rlike(r"^[1-9][1-9][2-5]")
    mobile = (F.length(phone) == 11) & phone.rlike(r"^[1-9][1-9]9")
    return F.coalesce(area_ok & (landline | mobile), F.lit(False))


def only_digits(c: ColumnOrName) -> Column:
    return F.regexp_replace(_col(c).cast("string"), r"[^0-9]", "")


def normalize_cpf(c: ColumnOrName) -> Column:
    """Digits only, left-padded to 11 (CPFs stored as numbers lose their leading zeros)."""
    return F.lpad(only_digits(c), 11, "0")


def is_valid_cpf(c: ColumnOrName) -> Column:
    """True when the value is a CPF whose two check digits are right (Receita Federal's
    mod-11 rule); repeated digits such as 111.111.111-11 are invalid."""
    cpf = normalize_cpf(c)
    raw = only_digits(c)
    d = [F.substring(cpf, i + 1, 1).cast("int") for i in range(11)]
    sum1 = sum((d[i] * (10 - i) for i in range(9)), F.lit(0))
    check1 = F.when((sum1 * 10) % 11 == 10, F.lit(0)).otherwise((sum1 * 10) % 11)
    sum2 = sum((d[i] * (11 - i) for i in range(10)), F.lit(0))
    check2 = F.when((sum2 * 10) % 11 == 10, F.lit(0)).otherwise((sum2 * 10) % 11)
    repeated = cpf.rlike(r"^(0{11}|1{11}|2{11}|3{11}|4{11}|5{11}|6{11}|7{11}|8{11}|9{11})$")
    ok = (
        (F.length(raw) >= 1)
        & (F.length(raw) <= 11)
        & ~repeated
        & (d[9] == check1)
        & (d[10] == check2)
    )
    return F.coalesce(ok, F.lit(False))
