"""Constants with the values of the ``MetaTrader5`` package (5.0.x).

Only the groups the recorder and its tests touch are listed; every value is
the package's own, so code written against the emulator runs unchanged on a
real terminal.
"""

from __future__ import annotations

# last_error() codes.
RES_S_OK = 1
RES_E_FAIL = -1
RES_E_INVALID_PARAMS = -2
RES_E_NO_MEMORY = -3
RES_E_NOT_FOUND = -4
RES_E_INVALID_VERSION = -5
RES_E_AUTH_FAILED = -6
RES_E_UNSUPPORTED = -7
RES_E_AUTO_TRADING_DISABLED = -8
RES_E_INTERNAL_FAIL = -10000
RES_E_INTERNAL_FAIL_SEND = -10001
RES_E_INTERNAL_FAIL_RECEIVE = -10002
RES_E_INTERNAL_FAIL_INIT = -10003
RES_E_INTERNAL_FAIL_CONNECT = -10004
RES_E_INTERNAL_FAIL_TIMEOUT = -10005

# market_book_get() level types.
BOOK_TYPE_SELL = 1
BOOK_TYPE_BUY = 2
BOOK_TYPE_SELL_MARKET = 3
BOOK_TYPE_BUY_MARKET = 4

# copy_ticks_*() flags.
COPY_TICKS_ALL = -1
COPY_TICKS_INFO = 1
COPY_TICKS_TRADE = 2

# Tick flags.
TICK_FLAG_BID = 2
TICK_FLAG_ASK = 4
TICK_FLAG_LAST = 8
TICK_FLAG_VOLUME = 16
TICK_FLAG_BUY = 32
TICK_FLAG_SELL = 64

# symbol_info() enumerations used by the emulator's symbols.
SYMBOL_CALC_MODE_FOREX = 0
SYMBOL_CALC_MODE_FUTURES = 1
SYMBOL_CALC_MODE_EXCH_FUTURES = 33
SYMBOL_CHART_MODE_BID = 0
SYMBOL_CHART_MODE_LAST = 1
SYMBOL_TRADE_MODE_DISABLED = 0
SYMBOL_TRADE_MODE_FULL = 4
SYMBOL_TRADE_EXECUTION_EXCHANGE = 3

ACCOUNT_TRADE_MODE_DEMO = 0
ACCOUNT_TRADE_MODE_CONTEST = 1
ACCOUNT_TRADE_MODE_REAL = 2
ACCOUNT_MARGIN_MODE_RETAIL_NETTING = 0
ACCOUNT_MARGIN_MODE_EXCHANGE = 1
ACCOUNT_MARGIN_MODE_RETAIL_HEDGING = 2

TIMEFRAME_M1 = 1
TIMEFRAME_H1 = 16385
TIMEFRAME_D1 = 16408

#: The messages a terminal pairs with each code in ``last_error()``.
MESSAGES = {
    RES_S_OK: "Success",
    RES_E_FAIL: "Terminal: Call failed",
    RES_E_INVALID_PARAMS: "Terminal: Invalid params",
    RES_E_NO_MEMORY: "Terminal: No memory",
    RES_E_NOT_FOUND: "Terminal: Not found",
    RES_E_INVALID_VERSION: "Terminal: Invalid version",
    RES_E_AUTH_FAILED: "Terminal: Authorization failed",
    RES_E_UNSUPPORTED: "Terminal: Unsupported method",
    RES_E_AUTO_TRADING_DISABLED: "Terminal: Auto trading disabled",
    RES_E_INTERNAL_FAIL: "Internal IPC general error",
    RES_E_INTERNAL_FAIL_SEND: "Internal IPC send failed",
    RES_E_INTERNAL_FAIL_RECEIVE: "Internal IPC receive failed",
    RES_E_INTERNAL_FAIL_INIT: "IPC initialize failed, MetaTrader 5 x64 not found",
    RES_E_INTERNAL_FAIL_CONNECT: "No IPC connection",
    RES_E_INTERNAL_FAIL_TIMEOUT: "IPC timeout",
}
