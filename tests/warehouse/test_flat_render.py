"""The pending days' WHERE clause: runs of consecutive calendar days (flat_render)."""

from esteira.warehouse.flat_render import day_runs, of_days


def test_consecutive_days_across_month_year_and_leap_day_make_one_run():
    days = [20240229, 20240228, 20240301, 20241231, 20250101, 20250102]
    assert day_runs(days) == [(20240228, 20240301), (20241231, 20250102)]


def test_a_gap_of_one_day_splits_the_run_and_repeats_count_once():
    assert day_runs([20240622, 20240624, 20240623, 20240626, 20240626]) == [
        (20240622, 20240624), (20240626, 20240626)]


def test_a_key_that_is_no_date_is_a_run_of_its_own():
    # 2023 has no 29 February: the 28th and 1 March are consecutive days
    assert day_runs([-1, 20230228, 20230301]) == [(-1, -1), (20230228, 20230301)]
    assert day_runs([20230228, 20230229]) == [(20230228, 20230228), (20230229, 20230229)]


def test_the_clause_has_one_range_per_run_and_no_day_list():
    clause = of_days([20240630, 20240701, 20240705]).as_string(None)
    assert clause == ("WHERE f.sk_data BETWEEN 20240630 AND 20240701 "
                      "OR f.sk_data BETWEEN 20240705 AND 20240705")
    assert of_days([]).as_string(None) == "WHERE f.sk_data BETWEEN 0 AND 0"
    assert of_days(None).as_string(None) == ""
