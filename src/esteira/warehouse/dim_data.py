"""dim_data's rows: one per day, key yyyymmdd, Portuguese month and weekday names, the
weekend flag and Brazil's national holidays (given by the `holidays` library: job.py)."""

from __future__ import annotations

from datetime import date, timedelta


def calendar_rows(start: date, end: date, holidays: dict[date, str]) -> list[tuple]:
    """dim_data's rows from `start` to `end` (inclusive): key yyyymmdd, year, quarter,
    month and weekday (Monday = 1) with Portuguese names, weekend, national holiday."""
    rows = []
    day = start
    while day <= end:
        weekday = day.isoweekday()
        holiday = holidays.get(day)
        rows.append((
            int(day.strftime("%Y%m%d")), day, day.year, (day.month - 1) // 3 + 1, day.month,
            MONTHS_PT[day.month - 1], day.day, weekday, WEEKDAYS_PT[weekday - 1],
            weekday >= 6, holiday is not None, holiday,
        ))
        day += timedelta(days=1)
    return rows


MONTHS_PT = ("Janeiro", "Fevereiro", "Março", "Abril", "Maio", "Junho", "Julho", "Agosto",
             "Setembro", "Outubro", "Novembro", "Dezembro")
WEEKDAYS_PT = ("Segunda-feira", "Terça-feira", "Quarta-feira", "Quinta-feira", "Sexta-feira",
               "Sábado", "Domingo")
DIM_DATA_SCHEMA = (
    "sk_data int, data date, ano int, trimestre int, mes int, nome_mes string, dia int, "
    "dia_semana int, nome_dia_semana string, fim_de_semana boolean, feriado boolean, "
    "nome_feriado string"
)
