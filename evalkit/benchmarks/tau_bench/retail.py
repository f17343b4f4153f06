"""tau-bench retail tools, as functions over the database (users, products, orders).

Written for evalkit from the tool semantics of sierra-research/tau-bench @59a200c
(tau_bench/envs/retail/tools): the same checks in the same order, the same state changes
and the same messages, since the reward compares final database states.
"""

from __future__ import annotations

from typing import Any

from evalkit.benchmarks.tau_bench.common import (
    Data,
    ToolError,
    calculate,
    dumps,
    think,
    transfer_to_human_agents,
)


def _order(data: Data, order_id: str, status: str | None = None, verb: str = "") -> dict[str, Any]:
    if order_id not in data["orders"]:
        raise ToolError("order not found")
    order = data["orders"][order_id]
    if status is not None and order["status"] != status:
        raise ToolError(f"non-{status} order cannot be {verb}")
    return order


def _check_items(order: dict[str, Any], item_ids: list[str], message: str | None = None) -> None:
    """Each id at most as often as the order holds it (an order may hold the same item twice)."""
    held = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > held.count(item_id):
            raise ToolError(message or f"{item_id} not found")


def _price_difference(
    data: Data, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str]
) -> float:
    if len(item_ids) != len(new_item_ids):
        raise ToolError("the number of items to be exchanged should match")
    diff = 0.0
    for item_id, new_id in zip(item_ids, new_item_ids, strict=True):
        item = next(i for i in order["items"] if i["item_id"] == item_id)
        variants = data["products"][item["product_id"]]["variants"]
        if not (new_id in variants and variants[new_id]["available"]):
            raise ToolError(f"new item {new_id} not found or available")
        diff += variants[new_id]["price"] - item["price"]
    return diff


def _method(data: Data, order: dict[str, Any], payment_method_id: str) -> dict[str, Any]:
    methods = data["users"][order["user_id"]]["payment_methods"]
    if payment_method_id not in methods:
        raise ToolError("payment method not found")
    return methods[payment_method_id]


def cancel_pending_order(data: Data, order_id: str, reason: str) -> str:
    order = _order(data, order_id, "pending", "cancelled")
    if reason not in ("no longer needed", "ordered by mistake"):
        raise ToolError("invalid reason")
    refunds = []
    for payment in order["payment_history"]:
        pid = payment["payment_method_id"]
        refunds.append({"transaction_type": "refund", "amount": payment["amount"], "payment_method_id": pid})
        if "gift_card" in pid:  # gift cards are refunded at once
            card = data["users"][order["user_id"]]["payment_methods"][pid]
            card["balance"] = round(card["balance"] + payment["amount"], 2)
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["payment_history"].extend(refunds)
    return dumps(order)


def exchange_delivered_order_items(
    data: Data, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> str:
    order = _order(data, order_id, "delivered", "exchanged")
    _check_items(order, item_ids)
    diff = round(_price_difference(data, order, item_ids, new_item_ids), 2)
    method = _method(data, order, payment_method_id)
    if method["source"] == "gift_card" and method["balance"] < diff:
        raise ToolError("insufficient gift card balance to pay for the price difference")
    order["status"] = "exchange requested"
    order["exchange_items"] = sorted(item_ids)
    order["exchange_new_items"] = sorted(new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = diff
    return dumps(order)


def find_user_id_by_email(data: Data, email: str) -> str:
    for user_id, profile in data["users"].items():
        if profile["email"].lower() == email.lower():
            return str(user_id)
    raise ToolError("user not found")


def find_user_id_by_name_zip(data: Data, first_name: str, last_name: str, zip: str) -> str:
    for user_id, profile in data["users"].items():
        name = profile["name"]
        if (
            name["first_name"].lower() == first_name.lower()
            and name["last_name"].lower() == last_name.lower()
            and profile["address"]["zip"] == zip
        ):
            return str(user_id)
    raise ToolError("user not found")


def get_order_details(data: Data, order_id: str) -> str:
    return dumps(_order(data, order_id))


def get_product_details(data: Data, product_id: str) -> str:
    if product_id not in data["products"]:
        raise ToolError("product not found")
    return dumps(data["products"][product_id])


def get_user_details(data: Data, user_id: str) -> str:
    if user_id not in data["users"]:
        raise ToolError("user not found")
    return dumps(data["users"][user_id])


def list_all_product_types(data: Data) -> str:
    names = {p["name"]: p["product_id"] for p in data["products"].values()}
    return dumps(dict(sorted(names.items())))


def _address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> dict[str, str]:
    return {
        "address1": address1,
        "address2": address2,
        "city": city,
        "state": state,
        "country": country,
        "zip": zip,
    }


def modify_pending_order_address(
    data: Data, order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> str:
    order = _order(data, order_id, "pending", "modified")
    order["address"] = _address(address1, address2, city, state, country, zip)
    return dumps(order)


def modify_pending_order_items(
    data: Data, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> str:
    order = _order(data, order_id, "pending", "modified")
    _check_items(order, item_ids)
    diff = _price_difference(data, order, item_ids, new_item_ids)
    method = _method(data, order, payment_method_id)
    if method["source"] == "gift_card" and method["balance"] < diff:
        raise ToolError("insufficient gift card balance to pay for the new item")
    order["payment_history"].append(
        {
            "transaction_type": "payment" if diff > 0 else "refund",
            "amount": abs(diff),
            "payment_method_id": payment_method_id,
        }
    )
    if method["source"] == "gift_card":
        method["balance"] = round(method["balance"] - diff, 2)
    for item_id, new_id in zip(item_ids, new_item_ids, strict=True):
        item = next(i for i in order["items"] if i["item_id"] == item_id)
        variant = data["products"][item["product_id"]]["variants"][new_id]
        item["item_id"] = new_id
        item["price"] = variant["price"]
        item["options"] = variant["options"]
    order["status"] = "pending (item modified)"
    return dumps(order)


def modify_pending_order_payment(data: Data, order_id: str, payment_method_id: str) -> str:
    order = _order(data, order_id, "pending", "modified")
    method = _method(data, order, payment_method_id)
    history = order["payment_history"]
    if len(history) > 1 or history[0]["transaction_type"] != "payment":
        raise ToolError("there should be exactly one payment for a pending order")
    old_id = history[0]["payment_method_id"]
    if old_id == payment_method_id:
        raise ToolError("the new payment method should be different from the current one")
    amount = history[0]["amount"]
    if method["source"] == "gift_card" and method["balance"] < amount:
        raise ToolError("insufficient gift card balance to pay for the order")
    history.extend(
        [
            {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
            {"transaction_type": "refund", "amount": amount, "payment_method_id": old_id},
        ]
    )
    if method["source"] == "gift_card":
        method["balance"] = round(method["balance"] - amount, 2)
    if "gift_card" in old_id:
        old = data["users"][order["user_id"]]["payment_methods"][old_id]
        old["balance"] = round(old["balance"] + amount, 2)
    return dumps(order)


def modify_user_address(
    data: Data, user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> str:
    if user_id not in data["users"]:
        raise ToolError("user not found")
    user = data["users"][user_id]
    user["address"] = _address(address1, address2, city, state, country, zip)
    return dumps(user)


def return_delivered_order_items(
    data: Data, order_id: str, item_ids: list[str], payment_method_id: str
) -> str:
    order = _order(data, order_id, "delivered", "returned")
    _method(data, order, payment_method_id)
    if (
        "gift_card" not in payment_method_id
        and payment_method_id != order["payment_history"][0]["payment_method_id"]
    ):
        raise ToolError("payment method should be either the original payment method or a gift card")
    _check_items(order, item_ids, "some item not found")
    order["status"] = "return requested"
    order["return_items"] = sorted(item_ids)
    order["return_payment_method_id"] = payment_method_id
    return dumps(order)


TOOLS = {
    f.__name__: f
    for f in (
        calculate, cancel_pending_order, exchange_delivered_order_items, find_user_id_by_email,
        find_user_id_by_name_zip, get_order_details, get_product_details, get_user_details,
        list_all_product_types, modify_pending_order_address, modify_pending_order_items,
        modify_pending_order_payment, modify_user_address, return_delivered_order_items, think,
        transfer_to_human_agents,
    )
}  # fmt: skip
