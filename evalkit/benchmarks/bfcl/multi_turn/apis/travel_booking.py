"""TravelAPI: flight booking with a bearer token, credit cards, invoices and insurance, as in BFCL v3.

Behaves as gorilla's TravelAPI at cd9429c, the commit the data comes from: `book_flight`
looks the cost up (no cost argument), every call with a wrong access token uses up one of
the token's uses (and fails on `None - 1` before any login), exchange rates are not
converted to float, and the long-context filler cards are shared with the other instances
of the entry (see shared.py). Token, card, booking and insurance ids come from a seeded
generator.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime
from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.shared import SharedDefaults

# (from, to, base cost in USD), in the order BFCL lists them (the long-context answer lists all).
_ROUTES: list[tuple[str, str, int]] = [
    ("SFO", "LAX", 200),
    ("SFO", "JFK", 500),
    ("SFO", "ORD", 400),
    ("SFO", "BOS", 450),
    ("SFO", "RMS", 300),
    ("SFO", "SBK", 350),
    ("SFO", "MPC", 370),
    ("SFO", "SVP", 320),
    ("SFO", "SHD", 330),
    ("SFO", "SSV", 340),
    ("SFO", "OKD", 360),
    ("SFO", "WLB", 310),
    ("SFO", "CRH", 380),
    ("SFO", "ATV", 390),
    ("SFO", "PHV", 420),
    ("SFO", "GFD", 430),
    ("SFO", "CIA", 700),
    ("LAX", "SFO", 100),
    ("LAX", "JFK", 600),
    ("LAX", "ORD", 500),
    ("LAX", "BOS", 550),
    ("LAX", "RMS", 310),
    ("LAX", "SBK", 320),
    ("LAX", "MPC", 330),
    ("LAX", "SVP", 340),
    ("LAX", "SHD", 350),
    ("LAX", "SSV", 360),
    ("LAX", "OKD", 370),
    ("LAX", "WLB", 380),
    ("LAX", "CRH", 390),
    ("LAX", "ATV", 400),
    ("LAX", "PHV", 410),
    ("LAX", "GFD", 420),
    ("LAX", "HND", 430),
    ("JFK", "ORD", 300),
    ("JFK", "BOS", 250),
    ("JFK", "RMS", 450),
    ("JFK", "SBK", 460),
    ("JFK", "MPC", 470),
    ("JFK", "SVP", 480),
    ("JFK", "SHD", 490),
    ("JFK", "SSV", 500),
    ("JFK", "OKD", 510),
    ("JFK", "WLB", 520),
    ("JFK", "CRH", 530),
    ("JFK", "ATV", 540),
    ("JFK", "PHV", 550),
    ("JFK", "GFD", 560),
    ("JFK", "LAX", 570),
    ("JFK", "HND", 800),
    ("JFK", "PVG", 950),
    ("JFK", "PEK", 1000),
    ("ORD", "LAX", 180),
    ("ORD", "BOS", 200),
    ("ORD", "RMS", 350),
    ("ORD", "SBK", 360),
    ("ORD", "MPC", 370),
    ("ORD", "SVP", 380),
    ("ORD", "SHD", 390),
    ("ORD", "SSV", 400),
    ("ORD", "OKD", 410),
    ("ORD", "WLB", 420),
    ("ORD", "CRH", 430),
    ("ORD", "ATV", 440),
    ("ORD", "PHV", 450),
    ("ORD", "GFD", 460),
    ("BOS", "RMS", 400),
    ("BOS", "SBK", 410),
    ("BOS", "MPC", 420),
    ("BOS", "SVP", 430),
    ("BOS", "SHD", 440),
    ("BOS", "SSV", 450),
    ("BOS", "OKD", 460),
    ("BOS", "WLB", 470),
    ("BOS", "CRH", 480),
    ("BOS", "ATV", 490),
    ("BOS", "PHV", 500),
    ("BOS", "GFD", 510),
    ("RMS", "BOS", 200),
    ("RMS", "JFK", 210),
    ("RMS", "SBK", 220),
    ("RMS", "MPC", 230),
    ("RMS", "SVP", 240),
    ("RMS", "SHD", 250),
    ("RMS", "SSV", 260),
    ("RMS", "OKD", 270),
    ("RMS", "WLB", 280),
    ("RMS", "CRH", 290),
    ("RMS", "ATV", 300),
    ("RMS", "PHV", 310),
    ("RMS", "GFD", 320),
    ("RMS", "LAX", 330),
    ("SBK", "MPC", 200),
    ("SBK", "SVP", 210),
    ("SBK", "SHD", 220),
    ("SBK", "SSV", 230),
    ("SBK", "OKD", 240),
    ("SBK", "WLB", 250),
    ("SBK", "CRH", 260),
    ("SBK", "ATV", 270),
    ("SBK", "PHV", 280),
    ("SBK", "GFD", 290),
    ("MPC", "SVP", 210),
    ("MPC", "SHD", 220),
    ("MPC", "SSV", 230),
    ("MPC", "OKD", 240),
    ("MPC", "WLB", 250),
    ("MPC", "CRH", 260),
    ("MPC", "ATV", 270),
    ("MPC", "PHV", 280),
    ("MPC", "GFD", 290),
    ("SVP", "SHD", 230),
    ("SVP", "SSV", 240),
    ("SVP", "OKD", 250),
    ("SVP", "WLB", 260),
    ("SVP", "CRH", 270),
    ("SVP", "ATV", 280),
    ("SVP", "PHV", 290),
    ("SVP", "GFD", 300),
    ("SHD", "SSV", 220),
    ("SHD", "OKD", 230),
    ("SHD", "WLB", 240),
    ("SHD", "CRH", 250),
    ("SHD", "ATV", 260),
    ("SHD", "PHV", 270),
    ("SHD", "GFD", 280),
    ("SSV", "OKD", 240),
    ("SSV", "WLB", 250),
    ("SSV", "CRH", 260),
    ("SSV", "ATV", 270),
    ("SSV", "PHV", 280),
    ("SSV", "GFD", 290),
    ("OKD", "WLB", 230),
    ("OKD", "CRH", 240),
    ("OKD", "ATV", 250),
    ("OKD", "PHV", 260),
    ("OKD", "GFD", 270),
    ("WLB", "CRH", 250),
    ("WLB", "ATV", 260),
    ("WLB", "PHV", 270),
    ("WLB", "GFD", 280),
    ("CRH", "ATV", 240),
    ("CRH", "PHV", 250),
    ("CRH", "GFD", 260),
    ("CRH", "SFO", 270),
    ("CRH", "RMS", 280),
    ("CRH", "HKG", 290),
    ("CRH", "JFK", 300),
    ("ATV", "PHV", 230),
    ("ATV", "GFD", 240),
    ("PHV", "GFD", 220),
    ("LHR", "CDG", 100),
    ("OKD", "LAX", 220),
]
_COSTS = {(a, b): c for a, b, c in _ROUTES}
_CLASS_FACTOR = {"economy": 1, "business": 2, "first": 5}
AIRPORTS = [
    "RMS", "SBK", "MPC", "SVP", "SHD", "CDG", "LHR", "SSV", "OKD", "WLB", "PEK", "HND",
    "HKG", "CIA", "CRH", "ATV", "PHV", "GFD", "SFO", "LAX", "JFK", "ORD", "BOS",
]  # fmt: skip
_NEAREST = {
    "Rivermist": "RMS", "Stonebrook": "SBK", "Maplecrest": "MPC", "Silverpine": "SVP", "Shadowridge": "SHD",
    "London": "LHR", "Paris": "CDG", "Sunset Valley": "SSV", "Oakendale": "OKD", "Willowbend": "WLB",
    "Crescent Hollow": "CRH", "Autumnville": "ATV", "Pinehaven": "PHV", "Greenfield": "GFD",
    "San Francisco": "SFO", "Los Angeles": "LAX", "New York": "JFK", "Chicago": "ORD", "Boston": "BOS",
    "Beijing": "PEK", "Hong Kong": "HKG", "Rome": "CIA", "Tokyo": "HND",
}  # fmt: skip
_RATES = [
    ("USD", "RMB", 7), ("USD", "EUR", 0.8), ("USD", "JPY", 110), ("USD", "GBP", 0.7), ("USD", "CAD", 1.3),
    ("USD", "AUD", 1.4), ("USD", "INR", 70), ("USD", "RUB", 60), ("USD", "BRL", 3.8), ("USD", "MXN", 20),
]  # fmt: skip
_DEFAULTS: dict[str, object] = {
    "random_seed": 141053,
    "credit_card_list": {},
    "booking_record": {},
    "access_token": None,
    "token_type": None,
    "token_expires_in": None,
    "token_scope": None,
    "user_first_name": None,
    "user_last_name": None,
    "budget_limit": None,
}


class TravelAPI:
    def __init__(self, shared: SharedDefaults | None = None) -> None:
        self._shared = shared or SharedDefaults()
        self._load_scenario({})

    def _load_scenario(self, scenario: dict[str, Any], long_context: bool = False) -> None:
        d = copy.deepcopy(_DEFAULTS)
        self._random = random.Random(scenario.get("random_seed", d["random_seed"]))
        self.credit_card_list: dict[str, dict[str, Any]] = scenario.get(
            "credit_card_list", d["credit_card_list"]
        )
        self.booking_record: dict[str, dict[str, Any]] = scenario.get("booking_record", d["booking_record"])
        self.access_token: str | None = scenario.get("access_token", d["access_token"])
        self.token_type: str | None = scenario.get("token_type", d["token_type"])
        self.token_expires_in: int | None = scenario.get("token_expires_in", d["token_expires_in"])
        self.token_scope: str | None = scenario.get("token_scope", d["token_scope"])
        self.user_first_name: str | None = scenario.get("user_first_name", d["user_first_name"])
        self.user_last_name: str | None = scenario.get("user_last_name", d["user_last_name"])
        self.budget_limit: float | None = scenario.get("budget_limit", d["budget_limit"])
        self.long_context = long_context
        self._cost_lookup: dict[str, float] = {}
        if long_context:  # many more cards and bookings, existing ones kept
            # BFCL puts its module-level filler records themselves into every instance, so the
            # model's and the ground truth's instances share them: a charge to a filler card
            # shows in both. `shared` holds the one copy the instances of a scored entry share.
            filler = self._shared.travel_filler()
            for card_id, card in filler["CREDIT_CARD_EXTENSION"].items():
                self.credit_card_list.setdefault(card_id, card)
            for booking_id, booking in filler["BOOKING_RECORD_EXTENSION"].items():
                self.booking_record.setdefault(booking_id, booking)

    def _token_error(self, access_token: str) -> str | None:
        if self.token_expires_in == 0:
            return "Token expired"
        if access_token != self.access_token:
            # As at cd9429c: every wrong token costs one use of the real one, and before any
            # login (no token, `token_expires_in` None) the subtraction itself fails with
            # "unsupported operand type(s) for -=: 'NoneType' and 'int'".
            self.token_expires_in -= 1  # type: ignore[operator]
            return "Invalid access token"
        return None

    def authenticate_travel(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        grant_type: str,
        user_first_name: str,
        user_last_name: str,
    ) -> dict[str, object]:
        self.token_expires_in = 2
        self.access_token = str(self._random.randint(100000, 999999))
        self.token_type = "Bearer"
        self.token_scope = grant_type
        self.user_first_name = user_first_name
        self.user_last_name = user_last_name
        return {
            "expires_in": 2,
            "access_token": self.access_token,
            "token_type": "Bearer",
            "scope": grant_type,
        }

    def travel_get_login_status(self) -> dict[str, bool]:
        return {"status": self.token_expires_in not in (None, 0)}

    def get_budget_fiscal_year(
        self, lastModifiedAfter: str | None = None, includeRemoved: str | None = None
    ) -> dict[str, str]:
        return {"budget_fiscal_year": "2018"}

    def register_credit_card(
        self,
        access_token: str,
        card_number: str,
        expiration_date: str,
        cardholder_name: str,
        card_verification_number: int,
    ) -> dict[str, object]:
        if self.token_expires_in is None:
            return {"error": "Token not initialized"}
        if err := self._token_error(access_token):
            return {"error": err}
        if card_number in self.credit_card_list:
            return {"error": "Card already registered"}
        card_id = str(self._random.randint(100000000000, 999999999999))
        self.credit_card_list[card_id] = {
            "card_number": card_number,
            "expiration_date": expiration_date,
            "cardholder_name": cardholder_name,
            "card_verification_number": card_verification_number,
            "balance": self._random.randint(10000, 99999),
        }
        return {"card_id": card_id}

    def get_flight_cost(
        self, travel_from: str, travel_to: str, travel_date: str, travel_class: str
    ) -> dict[str, object]:
        if (travel_from, travel_to) not in _COSTS:
            raise ValueError("No available route for the given airports.")
        # Compared, not looked up (BFCL's chain of ==): a list is an invalid class too.
        if not any(travel_class == c for c in _CLASS_FACTOR):
            raise ValueError("Invalid travel class. Options are: economy, business, first.")
        # Dates whose digits sum to an even number cost double.
        multiplier = 2 if sum(int(c) for c in travel_date if c.isdigit()) % 2 == 0 else 1
        factor = _CLASS_FACTOR[travel_class]
        if self.long_context:  # every route's price is listed
            self._cost_lookup = {}
            costs = []
            for a, b, base in _ROUTES:
                cost = float(base * factor * multiplier)
                self._cost_lookup[f"{a}|{b}|{travel_class}|{travel_date}"] = cost
                costs.append(cost)
            return {"travel_cost_list": costs}
        cost = float(_COSTS[(travel_from, travel_to)] * factor * multiplier)
        self._cost_lookup = {f"{travel_from}|{travel_to}|{travel_class}|{travel_date}": cost}
        return {"travel_cost_list": [cost]}

    def get_credit_card_balance(self, access_token: str, card_id: str) -> dict[str, object]:
        if err := self._token_error(access_token):
            return {"error": err}
        if card_id not in self.credit_card_list:
            return {
                "error": "Card not registered. Here are a list of card_id's: "
                + str(list(self.credit_card_list))
            }
        return {"card_balance": self.credit_card_list[card_id]["balance"]}

    def book_flight(
        self,
        access_token: str,
        card_id: str,
        travel_date: str,
        travel_from: str,
        travel_to: str,
        travel_class: str,
    ) -> dict[str, object]:
        def fail(msg: str) -> dict[str, object]:
            return {"booking_status": False, "error": msg}

        if err := self._token_error(access_token):
            return fail(err)
        if card_id not in self.credit_card_list:
            return fail("Card not registered")
        card = self.credit_card_list[card_id]
        if "balance" not in card:
            return fail("Balance not found")
        if travel_from not in AIRPORTS:
            return fail(f"Invalid departure airport code: {travel_from}")
        if travel_to not in AIRPORTS:
            return fail(f"Invalid destination airport code: {travel_to}")
        try:
            datetime.strptime(travel_date, "%Y-%m-%d")
        except ValueError:
            return fail("Invalid date format. Use YYYY-MM-DD.")
        if travel_class not in _CLASS_FACTOR:
            # BFCL prints a set here, in whatever order the run's string hashing gives; evalkit sorts it.
            return fail("Invalid travel class. Must be one of {'business', 'economy', 'first'}")
        try:
            self.get_flight_cost(
                travel_from=travel_from,
                travel_to=travel_to,
                travel_date=travel_date,
                travel_class=travel_class,
            )
        except ValueError as e:
            return fail(str(e))
        cost = self._cost_lookup.get(f"{travel_from}|{travel_to}|{travel_class}|{travel_date}")
        if cost is None:
            return fail("No available route for the given parameters")
        if card["balance"] < cost:
            return fail("Insufficient funds")
        if self.budget_limit is not None and card["balance"] < self.budget_limit:
            return fail("Balance is less than budget limit")
        card["balance"] -= cost
        booking_id = str(self._random.randint(1000000, 9999999))
        transaction_id = str(self._random.randint(10000000, 99999999))
        self.booking_record[booking_id] = {
            "card_id": card_id,
            "travel_date": travel_date,
            "travel_from": travel_from,
            "travel_to": travel_to,
            "travel_class": travel_class,
            "travel_cost": cost,
            "transaction_id": transaction_id,
        }
        history = self.booking_record if self.long_context else {}
        return {
            "booking_id": booking_id,
            "transaction_id": transaction_id,
            "booking_status": True,
            "booking_history": history,
        }

    def retrieve_invoice(
        self, access_token: str, booking_id: str | None = None, insurance_id: str | None = None
    ) -> dict[str, object]:
        if err := self._token_error(access_token):
            return {"error": err}
        if booking_id not in self.booking_record:
            return {"error": "Booking not found"}
        b = self.booking_record[booking_id]
        keys = ("travel_date", "travel_from", "travel_to", "travel_class", "travel_cost", "transaction_id")
        return {"invoice": {"booking_id": booking_id, **{k: b[k] for k in keys}}}

    def list_all_airports(self) -> list[str]:
        return list(AIRPORTS)

    def cancel_booking(self, access_token: str, booking_id: str) -> dict[str, object]:
        if err := self._token_error(access_token):
            return {"cancel_status": False, "error": err}
        if booking_id not in self.booking_record:
            return {"cancel_status": False, "error": "Booking not found"}
        b = self.booking_record[booking_id]
        self.credit_card_list[b["card_id"]]["balance"] += b["travel_cost"]
        del self.booking_record[booking_id]
        return {"cancel_status": True}

    def compute_exchange_rate(
        self, base_currency: str, target_currency: str, value: float
    ) -> dict[str, object]:
        for a, b, rate in _RATES:
            if (base_currency, target_currency) == (a, b):
                # Not converted to float: an integer value at an integer rate stays an integer.
                return {"exchanged_value": value * rate}
            if (base_currency, target_currency) == (b, a):
                return {"exchanged_value": round(value / rate, 2)}
        raise ValueError("No available exchange rate for the given currencies.")

    def verify_traveler_information(
        self, first_name: str, last_name: str, date_of_birth: str, passport_number: str
    ) -> dict[str, object]:
        def fail(msg: str) -> dict[str, object]:
            return {"verification_status": False, "verification_failure": msg}

        if (self.user_first_name, self.user_last_name) != (first_name, last_name):
            return fail(
                "Cannot book flight information for another user."
                f"Expected {self.user_first_name} {self.user_last_name}, got {first_name} {last_name}"
            )
        try:
            born = datetime.strptime(date_of_birth, "%Y-%m-%d")
        except ValueError:
            return fail("Invalid date of birth format. Please use YYYY-MM-DD.")
        today = datetime.today()
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age < 18:
            return fail("Traveler must be at least 18 years old.")
        if not passport_number.startswith("US"):
            return fail("Passport must be issued by the United States.")
        return {"verification_status": True}

    def set_budget_limit(self, access_token: str, budget_limit: float) -> dict[str, object]:
        if err := self._token_error(access_token):
            return {"error": err}
        self.budget_limit = float(budget_limit)
        return {"budget_limit": self.budget_limit}

    def get_nearest_airport_by_city(self, location: str) -> dict[str, str]:
        return {"nearest_airport": _NEAREST.get(location, "Unknown")}

    def purchase_insurance(
        self, access_token: str, insurance_type: str, booking_id: str, insurance_cost: float, card_id: str
    ) -> dict[str, object]:
        def fail(msg: str) -> dict[str, object]:
            return {"insurance_status": False, "error": msg}

        if err := self._token_error(access_token):
            return fail(err)
        if self.budget_limit is not None and self.budget_limit < insurance_cost:
            return fail("Exceeded budget limit")
        if booking_id not in self.booking_record:
            return fail("Booking not found")
        if card_id not in self.credit_card_list:
            return fail("Credit card not registered")
        self.credit_card_list[card_id]["balance"] -= insurance_cost
        return {"insurance_id": str(self._random.randint(100000000, 999999999)), "insurance_status": True}

    def contact_customer_support(self, booking_id: str, message: str) -> dict[str, str]:
        if booking_id not in self.booking_record:
            return {"error": "Booking not found"}
        return {
            "customer_support_message": "Thank you for contacting customer support. Your message has been "
            "received and we will get back to you shortly."
        }

    def get_all_credit_cards(self) -> dict[str, object]:
        return {"credit_card_list": self.credit_card_list}
