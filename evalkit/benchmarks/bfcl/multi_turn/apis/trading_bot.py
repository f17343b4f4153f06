"""TradingBot: an account, orders, stocks and a watch list, behaving as in BFCL v3.

The clock is fixed (2024-09-01 10:30); transaction timestamps are drawn from a seeded
generator within the following day, as BFCL draws them.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime, timedelta
from datetime import time as clock
from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.long_context import fresh, long_context_data

NOW = datetime(2024, 9, 1, 10, 30)
_SYMBOLS = {
    "Apple": "AAPL",
    "Google": "GOOG",
    "Tesla": "TSLA",
    "Microsoft": "MSFT",
    "Nvidia": "NVDA",
    "Zeta Corp": "ZETA",
    "Alpha Tech": "ALPH",
    "Omega Industries": "OMEG",
    "Quasar Ltd.": "QUAS",
    "Neptune Systems": "NEPT",
    "Synex Solutions": "SYNX",
    "Amazon": "AMZN",
}


def _stock(price: float, change: float, volume: float, ma5: float, ma20: float) -> dict[str, float]:
    return {"price": price, "percent_change": change, "volume": volume, "MA(5)": ma5, "MA(20)": ma20}


_DEFAULTS: dict[str, object] = {
    "orders": {
        12345: {
            "id": 12345,
            "order_type": "Buy",
            "symbol": "AAPL",
            "price": 210.65,
            "amount": 10,
            "status": "Completed",
        },
        12446: {
            "id": 12446,
            "order_type": "Sell",
            "symbol": "GOOG",
            "price": 2840.56,
            "amount": 5,
            "status": "Pending",
        },
    },
    "account_info": {"account_id": 12345, "balance": 10000.0, "binding_card": 1974202140965533},
    "authenticated": False,
    "market_status": "Closed",
    "order_counter": 12446,
    "stocks": {
        "AAPL": _stock(227.16, 0.17, 2.552, 227.11, 227.09),
        "GOOG": _stock(2840.34, 0.24, 1.123, 2835.67, 2842.15),
        "TSLA": _stock(667.92, -0.12, 1.654, 671.15, 668.2),
        "MSFT": _stock(310.23, 0.09, 3.234, 309.88, 310.11),
        "NVDA": _stock(220.34, 0.34, 1.234, 220.45, 220.67),
        "ALPH": _stock(1320.45, -0.08, 1.567, 1321.12, 1325.78),
        "OMEG": _stock(457.23, 0.12, 2.345, 456.78, 458.12),
        "QUAS": _stock(725.89, -0.03, 1.789, 726.45, 728.0),
        "NEPT": _stock(88.34, 0.19, 0.654, 88.21, 88.67),
        "SYNX": _stock(345.67, 0.11, 2.112, 345.34, 346.12),
        "ZETA": _stock(22.09, -0.05, 0.789, 22.12, 22.34),
    },
    "watch_list": ["NVDA"],
    "transaction_history": [],
    "random_seed": 1053520,
}


class TradingBot:
    def __init__(self) -> None:
        self._load_scenario({})

    def _load_scenario(self, scenario: dict[str, Any], long_context: bool = False) -> None:
        d = copy.deepcopy(_DEFAULTS)
        orders = scenario.get("orders", d["orders"])
        self.orders = {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in orders.items()}
        self.account_info: dict[str, Any] = scenario.get("account_info", d["account_info"])
        self.authenticated: bool = scenario.get("authenticated", d["authenticated"])
        self.market_status: str = scenario.get("market_status", d["market_status"])
        self.order_counter: int = scenario.get("order_counter", d["order_counter"])
        self.stocks: dict[str, dict[str, Any]] = scenario.get("stocks", d["stocks"])
        self.watch_list: list[Any] = scenario.get("watch_list", d["watch_list"])
        self.transaction_history = scenario.get("transaction_history", d["transaction_history"])
        self.long_context = long_context
        self._random = random.Random(scenario.get("random_seed", d["random_seed"]))

    def _timestamp(self) -> str:
        seconds = self._random.randint(0, 24 * 3600)  # the same draw as BFCL's, over one day of seconds
        return (NOW + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")

    def _record(self, kind: str, amount: float) -> None:
        self.transaction_history.append({"type": kind, "amount": amount, "timestamp": self._timestamp()})

    def get_current_time(self) -> dict[str, str]:
        return {"current_time": NOW.strftime("%I:%M %p")}

    def update_market_status(self, current_time_str: str) -> dict[str, str]:
        t = datetime.strptime(current_time_str, "%I:%M %p").time()
        self.market_status = "Open" if clock(9, 30) <= t <= clock(16, 0) else "Closed"
        return {"status": self.market_status}

    def get_symbol_by_name(self, name: str) -> dict[str, str]:
        return {"symbol": _SYMBOLS.get(name, "Stock not found")}

    def get_stock_info(self, symbol: str) -> dict[str, object]:
        if symbol not in self.stocks:
            return {"error": f"Stock with symbol '{symbol}' not found."}
        if self.long_context:
            stock = dict(self.stocks[symbol])
            stock["MA(5)"] = fresh("MA_5_EXTENSION")
            stock["MA(20)"] = fresh("MA_20_EXTENSION")
            return stock
        result: dict[str, object] = self.stocks[symbol]
        return result

    def get_order_details(self, order_id: int) -> dict[str, object]:
        if order_id not in self.orders:
            known = list(self.orders)
            return {"error": f"Order with ID {order_id} not found.Here is the list of orders_id: {known}"}
        if self.long_context:
            order = dict(self.orders[order_id])
            extension = long_context_data()["ORDER_DETAIL_EXTENSION"]
            order["metadata"] = {k: v.format(symbol=order["symbol"]) for k, v in extension.items()}
            return order
        result: dict[str, object] = self.orders[order_id]
        return result

    def cancel_order(self, order_id: int) -> dict[str, object]:
        if order_id not in self.orders:
            return {"error": f"Order with ID {order_id} not found."}
        if self.orders[order_id]["status"] == "Completed":
            return {"error": f"Can't cancel order {order_id}. Order is already completed."}
        self.orders[order_id]["status"] = "Cancelled"
        return {"order_id": order_id, "status": "Cancelled"}

    def place_order(self, order_type: str, symbol: str, price: float, amount: int) -> dict[str, object]:
        if not self.authenticated:
            return {"error": "User not authenticated. Please log in to place an order."}
        if symbol not in self.stocks:
            return {"error": f"Invalid stock symbol: {symbol}"}
        if price <= 0 or amount <= 0:
            return {"error": "Price and amount must be positive values."}
        price = float(price)
        order_id = self.order_counter
        self.orders[order_id] = {
            "id": order_id,
            "order_type": order_type,
            "symbol": symbol,
            "price": price,
            "amount": amount,
            "status": "Open",
        }
        self.order_counter += 1
        return {
            "order_id": order_id,
            "order_type": order_type,
            "status": "Pending",
            "price": price,
            "amount": amount,
        }

    def make_transaction(self, account_id: int, xact_type: str, amount: float) -> dict[str, object]:
        if not self.authenticated:
            return {"error": "User not authenticated. Please log in to make a transaction."}
        if self.market_status != "Open":
            return {"error": "Market is closed. Transactions are not allowed."}
        if account_id != self.account_info["account_id"]:
            return {"error": f"Account with ID {account_id} not found."}
        if amount <= 0:
            return {"error": "Transaction amount must be positive."}
        if xact_type == "deposit":
            self.account_info["balance"] += amount
            self._record("deposit", amount)
            return {"status": "Deposit successful", "new_balance": self.account_info["balance"]}
        if xact_type == "withdrawal":
            if amount > self.account_info["balance"]:
                return {"error": "Insufficient funds for withdrawal."}
            self.account_info["balance"] -= amount
            self._record("withdrawal", amount)
            return {"status": "Withdrawal successful", "new_balance": self.account_info["balance"]}
        return {"error": "Invalid transaction type. Use 'deposit' or 'withdrawal'."}

    def get_account_info(self) -> dict[str, object]:
        if not self.authenticated:
            return {"error": "User not authenticated. Please log in to view account information."}
        result: dict[str, object] = self.account_info
        return result

    def trading_login(self, username: str, password: str) -> dict[str, str]:
        if self.authenticated:
            return {"status": "Already logged in"}
        self.authenticated = True  # any credentials are accepted, as in BFCL
        return {"status": "Logged in successfully"}

    def trading_get_login_status(self) -> dict[str, bool]:
        return {"status": bool(self.authenticated)}

    def trading_logout(self) -> dict[str, str]:
        if not self.authenticated:
            return {"status": "No user is currently logged in"}
        self.authenticated = False
        return {"status": "Logged out successfully"}

    def fund_account(self, amount: float) -> dict[str, object]:
        if not self.authenticated:
            return {"error": "User not authenticated. Please log in to fund the account."}
        if amount <= 0:
            return {"error": "Funding amount must be positive."}
        self.account_info["balance"] += amount
        self._record("deposit", amount)
        return {"status": "Account funded successfully", "new_balance": self.account_info["balance"]}

    def remove_stock_from_watchlist(self, symbol: str) -> dict[str, str]:
        if not self.authenticated:
            return {"error": "User not authenticated. Please log in to modify the watchlist."}
        if symbol not in self.watch_list:
            return {"error": f"Stock {symbol} not found in watchlist."}
        self.watch_list.remove(symbol)
        return {"status": f"Stock {symbol} removed from watchlist successfully."}

    def get_watchlist(self) -> Any:
        if not self.authenticated:
            return ["Error: User not authenticated. Please log in to view the watchlist."]
        if self.long_context:  # BFCL answers a bare list here
            return [*self.watch_list, *long_context_data()["WATCH_LIST_EXTENSION"]]
        return {"watchlist": self.watch_list}

    def get_order_history(self) -> Any:
        if not self.authenticated:
            return [{"error": "User not authenticated. Please log in to view order history."}]
        return {"history": list(self.orders)}

    def get_transaction_history(self, start_date: str | None = None, end_date: str | None = None) -> Any:
        if not self.authenticated:
            return [{"error": "User not authenticated. Please log in to view transaction history."}]
        start = datetime.strptime(start_date, "%Y-%m-%d") if start_date else datetime.min
        end = datetime.strptime(end_date, "%Y-%m-%d") if end_date else datetime.max
        rows = [
            t
            for t in self.transaction_history
            if start <= datetime.strptime(t["timestamp"], "%Y-%m-%d %H:%M:%S") <= end
        ]
        if self.long_context:
            rows.extend(fresh("TRANSACTION_HISTORY_EXTENSION"))
        return {"transaction_history": rows}

    def update_stock_price(self, symbol: str, new_price: float) -> dict[str, object]:
        if symbol not in self.stocks:
            return {"error": f"Stock with symbol '{symbol}' not found."}
        if new_price <= 0:
            return {"error": "New price must be a positive value."}
        old = self.stocks[symbol]["price"]
        self.stocks[symbol]["price"] = new_price
        self.stocks[symbol]["percent_change"] = (new_price - old) / old * 100
        return {"symbol": symbol, "old_price": old, "new_price": new_price}

    def get_available_stocks(self, sector: str) -> dict[str, list[str]]:
        sectors = {"Technology": ["AAPL", "GOOG", "MSFT", "NVDA"], "Automobile": ["TSLA", "F", "GM"]}
        if self.long_context:
            sectors["Technology"].extend(long_context_data()["TECHNOLOGY_EXTENSION"])
            sectors["Automobile"].extend(long_context_data()["AUTOMOBILE_EXTENSION"])
        return {"stock_list": sectors.get(sector, [])}

    def filter_stocks_by_price(
        self, stocks: list[str], min_price: float, max_price: float
    ) -> dict[str, list[str]]:
        def price(s: str) -> Any:
            return self.stocks.get(s, {}).get("price", 0)

        return {"filtered_stocks": [s for s in stocks if price(s) >= min_price and price(s) <= max_price]}

    def add_to_watchlist(self, stock: str) -> dict[str, list[str]]:
        if stock not in self.watch_list and stock in self.stocks:
            self.watch_list.append(stock)
        return {"symbol": self.watch_list}

    def notify_price_change(self, stocks: list[str], threshold: float) -> dict[str, str]:
        moved = [s for s in stocks if s in self.stocks and abs(self.stocks[s]["percent_change"]) >= threshold]
        if moved:
            return {"notification": f"Stocks {', '.join(moved)} have significant price changes."}
        return {"notification": "No significant price changes in the selected stocks."}
