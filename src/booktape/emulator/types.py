"""Result types shaped like MT5's: tuple subclasses with named fields.

The real ones are C struct-sequences: read by position or by attribute,
``_asdict()`` works, and **pickling fails**. The last point matters: a
picklable fake would let a test pass that a real terminal fails (mt5linux
1.1.x pickles results and breaks on ``BookInfo``; see issue 4).
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, NoReturn, Self


class _Result(tuple):  # type: ignore[type-arg]
    """Base of every emulated result type."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __new__(cls, *values: Any) -> Self:
        if len(values) != len(cls._fields):
            raise TypeError(
                f"{cls.__name__} takes {len(cls._fields)} fields, got {len(values)}"
            )
        return tuple.__new__(cls, values)

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self))
        return f"{type(self).__name__}({inner})"

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"cannot pickle '{type(self).__name__}' object")

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"cannot pickle '{type(self).__name__}' object")

    def __copy__(self) -> _Result:
        return self

    def __deepcopy__(self, memo: Any) -> _Result:
        return self


def result_type(name: str, fields: str) -> type[_Result]:
    """Make a non-picklable struct-sequence-like type with ``fields`` (space separated)."""
    names = tuple(fields.split())
    ns: dict[str, Any] = {"__slots__": (), "_fields": names, "__module__": "MetaTrader5"}
    for i, f in enumerate(names):
        ns[f] = property(itemgetter(i), doc=f"field {i}")
    return type(name, (_Result,), ns)


BookInfo = result_type("BookInfo", "type price volume volume_dbl")

Tick = result_type("Tick", "time bid ask last volume time_msc flags volume_real")

TerminalInfo = result_type(
    "TerminalInfo",
    "community_account community_connection connected dlls_allowed trade_allowed"
    " tradeapi_disabled email_enabled ftp_enabled notifications_enabled mqid build"
    " maxbars codepage ping_last community_balance retransmission company name"
    " language path data_path commondata_path",
)

AccountInfo = result_type(
    "AccountInfo",
    "login trade_mode leverage limit_orders margin_so_mode trade_allowed trade_expert"
    " margin_mode currency_digits fifo_close balance credit profit equity margin"
    " margin_free margin_level margin_so_call margin_so_so margin_initial"
    " margin_maintenance assets liabilities commission_blocked name server currency company",
)

SymbolInfo = result_type(
    "SymbolInfo",
    "custom chart_mode select visible session_deals session_buy_orders"
    " session_sell_orders volume volumehigh volumelow time digits spread spread_float"
    " ticks_bookdepth trade_calc_mode trade_mode start_time expiration_time"
    " trade_stops_level trade_freeze_level trade_exemode swap_mode swap_rollover3days"
    " margin_hedged_use_leg expiration_mode filling_mode order_mode order_gtc_mode"
    " option_mode option_right bid bidhigh bidlow ask askhigh asklow last lasthigh"
    " lastlow volume_real volumehigh_real volumelow_real option_strike point"
    " trade_tick_value trade_tick_value_profit trade_tick_value_loss trade_tick_size"
    " trade_contract_size trade_accrued_interest trade_face_value trade_liquidity_rate"
    " volume_min volume_max volume_step volume_limit swap_long swap_short margin_initial"
    " margin_maintenance session_volume session_turnover session_interest"
    " session_buy_orders_volume session_sell_orders_volume session_open session_close"
    " session_aw session_price_settlement session_price_limit_min"
    " session_price_limit_max margin_hedged price_change price_volatility"
    " price_theoretical price_greeks_delta price_greeks_theta price_greeks_gamma"
    " price_greeks_vega price_greeks_rho price_greeks_omega price_sensitivity basis"
    " category currency_base currency_profit currency_margin bank description exchange"
    " formula isin name page path",
)

#: The dtype ``copy_ticks_from``/``copy_ticks_range`` return (a numpy structured array).
TICK_DTYPE = [
    ("time", "<i8"), ("bid", "<f8"), ("ask", "<f8"), ("last", "<f8"),
    ("volume", "<u8"), ("time_msc", "<i8"), ("flags", "<u4"), ("volume_real", "<f8"),
]


def make(cls: type[_Result], **values: Any) -> _Result:
    """Build a result from keyword values; unnamed fields default to 0, text to ''."""
    text = {"company", "name", "language", "path", "data_path", "commondata_path",
            "server", "currency", "category", "currency_base", "currency_profit",
            "currency_margin", "bank", "description", "exchange", "formula", "isin", "page"}
    unknown = set(values) - set(cls._fields)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    return cls(*(values.get(f, "" if f in text else 0) for f in cls._fields))
