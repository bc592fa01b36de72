"""The KIS Open API endpoints the gateway calls, and their transaction ids per domain.

Source: KIS's official samples (koreainvestment/open-trading-api ``examples_llm/domestic_stock``,
commit 885dd4e2) and its API workbook, read 2026-12-02. Paper ids are listed, never derived by
swapping the first letter: KIS does not offer every transaction on paper (an empty id).
Legacy ids still seen in older code (order-cash TTTC0802U buy / TTTC0801U sell, order-rvsecncl
TTTC0803U, inquire-daily-ccld TTTC8001R) can be configured with ``KisConfig.tr_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str


TOKEN = Endpoint("POST", "/oauth2/tokenP")
REVOKE = Endpoint("POST", "/oauth2/revokeP")
APPROVAL = Endpoint("POST", "/oauth2/Approval")

PRICE = Endpoint("GET", "/uapi/domestic-stock/v1/quotations/inquire-price")
ASKING_PRICE = Endpoint("GET", "/uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn")
DAILY_CHART = Endpoint("GET", "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice")
TODAY_MINUTES = Endpoint("GET", "/uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice")
DAY_MINUTES = Endpoint("GET", "/uapi/domestic-stock/v1/quotations/inquire-time-dailychartprice")
BALANCE = Endpoint("GET", "/uapi/domestic-stock/v1/trading/inquire-balance")
BUYING_POWER = Endpoint("GET", "/uapi/domestic-stock/v1/trading/inquire-psbl-order")
SELLABLE = Endpoint("GET", "/uapi/domestic-stock/v1/trading/inquire-psbl-sell")
CANCELLABLE = Endpoint("GET", "/uapi/domestic-stock/v1/trading/inquire-psbl-rvsecncl")
DAILY_ORDERS = Endpoint("GET", "/uapi/domestic-stock/v1/trading/inquire-daily-ccld")
ORDER_CASH = Endpoint("POST", "/uapi/domestic-stock/v1/trading/order-cash")
ORDER_CANCEL = Endpoint("POST", "/uapi/domestic-stock/v1/trading/order-rvsecncl")

TR_IDS = MappingProxyType({
    # name: (real, paper); "" where KIS offers none
    "price": ("FHKST01010100", "FHKST01010100"),
    "asking_price": ("FHKST01010200", "FHKST01010200"),
    "daily_chart": ("FHKST03010100", "FHKST03010100"),
    "today_minutes": ("FHKST03010200", "FHKST03010200"),
    "day_minutes": ("FHKST03010230", ""),
    "balance": ("TTTC8434R", "VTTC8434R"),
    "buying_power": ("TTTC8908R", "VTTC8908R"),
    "sellable": ("TTTC8408R", ""),
    "cancellable": ("TTTC0084R", ""),
    "daily_orders": ("TTTC0081R", "VTTC0081R"),  # the last 3 months
    "order_buy": ("TTTC0012U", "VTTC0012U"),
    "order_sell": ("TTTC0011U", "VTTC0011U"),
    "order_cancel": ("TTTC0013U", "VTTC0013U"),
})
"""Transaction ids by endpoint name: (real, paper)."""

ORDERS = frozenset({"order_buy", "order_sell", "order_cancel"})
"""Endpoint names that change the account: never retried blindly."""

MORE_PAGES = frozenset({"F", "M"})
"""A response header ``tr_cont`` of F or M: another page follows (D or E: the last page)."""
