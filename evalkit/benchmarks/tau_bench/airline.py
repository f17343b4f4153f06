"""tau-bench airline tools, as functions over the database (users, flights, reservations).

Written for evalkit from the tool semantics of sierra-research/tau-bench @59a200c
(tau_bench/envs/airline/tools): the same checks in the same order, the same state changes
and the same messages, since the reward compares final database states.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from evalkit.benchmarks.tau_bench.common import (
    Data,
    ToolError,
    calculate,
    dumps,
    think,
    transfer_to_human_agents,
)

AIRPORTS = {
    "SFO": "San Francisco", "JFK": "New York", "LAX": "Los Angeles", "ORD": "Chicago", "DFW": "Dallas",
    "DEN": "Denver", "SEA": "Seattle", "ATL": "Atlanta", "MIA": "Miami", "BOS": "Boston", "PHX": "Phoenix",
    "IAH": "Houston", "LAS": "Las Vegas", "MCO": "Orlando", "EWR": "Newark", "CLT": "Charlotte",
    "MSP": "Minneapolis", "DTW": "Detroit", "PHL": "Philadelphia", "LGA": "LaGuardia",
}  # fmt: skip


def _user(data: Data, user_id: str) -> dict[str, Any]:
    if user_id not in data["users"]:
        raise ToolError("user not found")
    return data["users"][user_id]


def _reservation(data: Data, reservation_id: str) -> dict[str, Any]:
    if reservation_id not in data["reservations"]:
        raise ToolError("reservation not found")
    return data["reservations"][reservation_id]


def _bookable(data: Data, flight: dict[str, object], cabin: str, seats: int) -> dict[str, object]:
    """The flight's record on its date, checked as bookable for `seats` passengers in `cabin`."""
    number, date = flight["flight_number"], flight["date"]
    if number not in data["flights"]:
        raise ToolError(f"flight {number} not found")
    record = data["flights"][number]
    if date not in record["dates"]:
        raise ToolError(f"flight {number} not found on date {date}")
    day = record["dates"][date]
    if day["status"] != "available":
        raise ToolError(f"flight {number} not available on date {date}")
    if day["available_seats"][cabin] < seats:
        raise ToolError(f"not enough seats on flight {number}")
    return {"price": day["prices"][cabin], "origin": record["origin"], "destination": record["destination"]}


def book_reservation(
    data: Data,
    user_id: str,
    origin: str,
    destination: str,
    flight_type: str,
    cabin: str,
    flights: list[dict[str, Any]],
    passengers: list[dict[str, object]],
    payment_methods: list[dict[str, Any]],
    total_baggages: int,
    nonfree_baggages: int,
    insurance: str,
) -> str:
    user = _user(data, user_id)
    reservations = data["reservations"]
    # Upstream hands out fixed ids (at most three new reservations per task).
    rid = next((r for r in ("HATHAT", "HATHAU") if r not in reservations), "HATHAV")
    booked = deepcopy(flights)
    total = 0
    for flight in booked:
        flight.update(_bookable(data, flight, cabin, len(passengers)))
        total += flight["price"] * len(passengers)
    if insurance == "yes":
        total += 30 * len(passengers)
    total += 50 * nonfree_baggages
    for pay in payment_methods:
        pid = pay["payment_id"]
        if pid not in user["payment_methods"]:
            raise ToolError(f"payment method {pid} not found")
        method = user["payment_methods"][pid]
        if method["source"] in ("gift_card", "certificate") and method["amount"] < pay["amount"]:
            raise ToolError(f"not enough balance in payment method {pid}")
    paid = sum(p["amount"] for p in payment_methods)
    if paid != total:
        raise ToolError(f"payment amount does not add up, total price is {total}, but paid {paid}")
    for pay in payment_methods:
        method = user["payment_methods"][pay["payment_id"]]
        if method["source"] == "gift_card":
            method["amount"] -= pay["amount"]
        elif method["source"] == "certificate":
            del user["payment_methods"][pay["payment_id"]]
    reservation = {
        "reservation_id": rid,
        "user_id": user_id,
        "origin": origin,
        "destination": destination,
        "flight_type": flight_type,
        "cabin": cabin,
        "flights": booked,
        "passengers": passengers,
        "payment_history": payment_methods,
        "created_at": "2024-05-15T15:00:00",
        "total_baggages": total_baggages,
        "nonfree_baggages": nonfree_baggages,
        "insurance": insurance,
    }
    reservations[rid] = reservation
    user["reservations"].append(rid)
    return dumps(reservation)


def cancel_reservation(data: Data, reservation_id: str) -> str:
    reservation = _reservation(data, reservation_id)
    refunds = [
        {"payment_id": p["payment_id"], "amount": -p["amount"]} for p in reservation["payment_history"]
    ]
    reservation["payment_history"].extend(refunds)
    reservation["status"] = "cancelled"
    return dumps(reservation)


def get_reservation_details(data: Data, reservation_id: str) -> str:
    if reservation_id in data["reservations"]:
        return dumps(data["reservations"][reservation_id])
    raise ToolError("user not found")  # sic: upstream's message


def get_user_details(data: Data, user_id: str) -> str:
    return dumps(_user(data, user_id))


def list_all_airports(data: Data) -> str:
    return dumps(AIRPORTS)


def _on_date(flight: dict[str, Any], date: str) -> dict[str, Any]:
    out = {k: v for k, v in flight.items() if k != "dates"}
    out.update(flight["dates"][date])
    return out


def search_direct_flight(data: Data, origin: str, destination: str, date: str) -> str:
    found = [
        _on_date(f, date)
        for f in data["flights"].values()
        if f["origin"] == origin
        and f["destination"] == destination
        and date in f["dates"]
        and f["dates"][date]["status"] == "available"
    ]
    return dumps(found)


def search_onestop_flight(data: Data, origin: str, destination: str, date: str) -> str:
    found = []
    for first in data["flights"].values():
        if first["origin"] != origin:
            continue
        for second in data["flights"].values():
            if second["destination"] != destination or first["destination"] != second["origin"]:
                continue
            # An overnight first leg moves the connection to the next day (May 2024 only, as upstream).
            date2 = f"2024-05-{int(date[-2:]) + 1}" if "+1" in first["scheduled_arrival_time_est"] else date
            if first["scheduled_arrival_time_est"] > second["scheduled_departure_time_est"]:
                continue
            if date not in first["dates"] or date2 not in second["dates"]:
                continue
            if (
                first["dates"][date]["status"] != "available"
                or second["dates"][date2]["status"] != "available"
            ):
                continue
            leg1 = _on_date(first, date)
            leg1["date"] = date
            # Upstream reads the second leg's day record at `date`, not `date2` (a KeyError when
            # it has none); kept, since the agent sees these results.
            if date not in second["dates"]:
                raise ToolError(repr(date))
            leg2 = _on_date(second, date)
            leg2["date"] = date2
            found.append([leg1, leg2])
    return dumps(found)


def send_certificate(data: Data, user_id: str, amount: int) -> str:
    user = _user(data, user_id)
    for n in (3221322, 3221323, 3221324):
        pid = f"certificate_{n}"
        if pid not in user["payment_methods"]:
            user["payment_methods"][pid] = {"source": "certificate", "amount": amount, "id": pid}
            return f"Certificate {pid} added to user {user_id} with amount {amount}."
    return "null"  # upstream returns None when all three ids are taken


def _charge(data: Data, reservation: dict[str, object], payment_id: str, total: float) -> dict[str, object]:
    methods = data["users"][reservation["user_id"]]["payment_methods"]
    if payment_id not in methods:
        raise ToolError("payment method not found")
    method = methods[payment_id]
    if method["source"] == "certificate":
        raise ToolError("certificate cannot be used to update reservation")
    if method["source"] == "gift_card" and method["amount"] < total:
        raise ToolError("gift card balance is not enough")
    return method


def update_reservation_baggages(
    data: Data, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
) -> str:
    reservation = _reservation(data, reservation_id)
    total = 50 * max(0, nonfree_baggages - reservation["nonfree_baggages"])
    method = _charge(data, reservation, payment_id, total)
    reservation["total_baggages"] = total_baggages
    reservation["nonfree_baggages"] = nonfree_baggages
    if method["source"] == "gift_card":
        method["amount"] -= total
    if total != 0:
        reservation["payment_history"].append({"payment_id": payment_id, "amount": total})
    return dumps(reservation)


def update_reservation_flights(
    data: Data, reservation_id: str, cabin: str, flights: list[dict[str, Any]], payment_id: str
) -> str:
    reservation = _reservation(data, reservation_id)
    n = len(reservation["passengers"])
    new = deepcopy(flights)
    total = 0
    for flight in new:
        # A flight already on the reservation in the same cabin keeps its booked price.
        kept = [
            f
            for f in reservation["flights"]
            if f["flight_number"] == flight["flight_number"] and f["date"] == flight["date"]
        ]
        if kept and cabin == reservation["cabin"]:
            old = kept[0]
            flight.update({"price": old["price"], "origin": old["origin"], "destination": old["destination"]})
        else:
            flight.update(_bookable(data, flight, cabin, n))
        total += flight["price"] * n
    total -= sum(f["price"] for f in reservation["flights"]) * n
    method = _charge(data, reservation, payment_id, total)
    if method["source"] == "gift_card":
        method["amount"] -= total
    reservation["flights"] = new
    if total != 0:
        reservation["payment_history"].append({"payment_id": payment_id, "amount": total})
    return dumps(reservation)


def update_reservation_passengers(
    data: Data, reservation_id: str, passengers: list[dict[str, object]]
) -> str:
    reservation = _reservation(data, reservation_id)
    if len(passengers) != len(reservation["passengers"]):
        raise ToolError("number of passengers does not match")
    reservation["passengers"] = passengers
    return dumps(reservation)


TOOLS = {
    f.__name__: f
    for f in (
        book_reservation, calculate, cancel_reservation, get_reservation_details, get_user_details,
        list_all_airports, search_direct_flight, search_onestop_flight, send_certificate, think,
        transfer_to_human_agents, update_reservation_baggages, update_reservation_flights,
        update_reservation_passengers,
    )
}  # fmt: skip
