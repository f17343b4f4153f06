"""TicketAPI: a support-ticket queue with a logged-in user, behaving as in BFCL v3."""

from __future__ import annotations

import copy
from typing import Any

_DEFAULTS: dict[str, object] = {"ticket_queue": [], "ticket_counter": 1, "current_user": None}
_EDITABLE = {"title", "description", "status", "priority"}


class TicketAPI:
    def __init__(self) -> None:
        self._load_scenario({})

    def _load_scenario(self, scenario: dict[str, Any], long_context: bool = False) -> None:
        d = copy.deepcopy(_DEFAULTS)
        self.ticket_queue = scenario.get("ticket_queue", d["ticket_queue"])
        self.ticket_counter = scenario.get("ticket_counter", d["ticket_counter"])
        self.current_user = scenario.get("current_user", d["current_user"])

    def _find(self, ticket_id: int) -> dict[str, object] | None:
        return next((t for t in self.ticket_queue if t["id"] == ticket_id), None)

    def create_ticket(self, title: str, description: str = "", priority: int = 1) -> dict[str, object]:
        if not self.current_user:
            return {"error": "User not authenticated. Please log in to create a ticket."}
        if priority < 1 or priority > 5:
            return {"error": "Invalid priority. Priority must be between 1 and 5."}
        ticket = {
            "id": self.ticket_counter,
            "title": title,
            "description": description,
            "status": "Open",
            "priority": priority,
            "created_by": self.current_user,
        }
        self.ticket_queue.append(ticket)
        self.ticket_counter += 1
        return ticket

    def get_ticket(self, ticket_id: int) -> dict[str, object]:
        t = self._find(ticket_id)
        return t if t else {"error": f"Ticket with ID {ticket_id} not found."}

    def close_ticket(self, ticket_id: int) -> dict[str, str]:
        t = self._find(ticket_id)
        if not t:
            return {"error": f"Ticket with ID {ticket_id} not found."}
        if t["status"] == "Closed":
            return {"error": f"Ticket with ID {ticket_id} is already closed."}
        t["status"] = "Closed"
        return {"status": f"Ticket {ticket_id} has been closed successfully."}

    def resolve_ticket(self, ticket_id: int, resolution: str) -> dict[str, str]:
        t = self._find(ticket_id)
        if not t:
            return {"error": f"Ticket with ID {ticket_id} not found."}
        if t["status"] == "Resolved":
            return {"error": f"Ticket with ID {ticket_id} is already resolved."}
        t["status"] = "Resolved"
        t["resolution"] = resolution
        return {"status": f"Ticket {ticket_id} has been resolved successfully."}

    def edit_ticket(self, ticket_id: int, updates: dict[str, object]) -> dict[str, str]:
        t = self._find(ticket_id)
        if not t:
            return {"error": f"Ticket with ID {ticket_id} not found."}
        bad = set(updates.keys()) - _EDITABLE
        if bad:
            return {"error": f"Invalid fields for update: {', '.join(sorted(bad))}"}
        for key, value in updates.items():
            if value is not None:
                t[key] = value
        return {"status": f"Ticket {ticket_id} has been updated successfully."}

    def ticket_login(self, username: str, password: str) -> dict[str, bool]:
        if username and password:
            self.current_user = username
            return {"success": True}
        return {"success": False}

    def ticket_get_login_status(self) -> dict[str, bool]:
        return {"username": bool(self.current_user)}

    def logout(self) -> dict[str, bool]:
        if self.current_user:
            self.current_user = None
            return {"success": True}
        return {"success": False}

    def get_user_tickets(self, status: str | None = None) -> list[dict[str, object]]:
        if not self.current_user:
            return [{"error": "User not authenticated. Please log in to view tickets."}]
        mine = [t for t in self.ticket_queue if t["created_by"] == self.current_user]
        if status:
            mine = [t for t in mine if t["status"].lower() == status.lower()]
        return mine
