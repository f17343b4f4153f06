"""MessageAPI: a workspace of users and an inbox of sent messages, behaving as in BFCL v3."""

from __future__ import annotations

import copy
import random
from typing import Any

_DEFAULTS: dict[str, object] = {
    "generated_ids": set(),
    "user_count": 4,
    "user_map": {"Alice": "USR001", "Bob": "USR002", "Catherine": "USR003", "Daniel": "USR004"},
    "inbox": [
        {"USR002": "My name is Alice. I want to connect."},
        {"USR003": "Could you upload the file?"},
        {"USR004": "Could you upload the file?"},
    ],
    "message_count": 3,
    "current_user": None,
}


class MessageAPI:
    def __init__(self) -> None:
        self._load_scenario({})

    def _load_scenario(self, scenario: dict[str, Any], long_context: bool = False) -> None:
        d = copy.deepcopy(_DEFAULTS)
        # Message ids come from a seeded generator, so runs are reproducible.
        self._random = random.Random(scenario.get("random_seed", 200191))
        self.generated_ids = scenario.get("generated_ids", d["generated_ids"])
        self.user_count = scenario.get("user_count", d["user_count"])
        self.user_map = scenario.get("user_map", d["user_map"])
        self.inbox = scenario.get("inbox", d["inbox"])
        self.message_count = scenario.get("message_count", d["message_count"])
        self.current_user = scenario.get("current_user", d["current_user"])

    def _new_id(self) -> dict[str, int]:
        while True:
            new = self._random.randint(10000, 99999)
            if new not in self.generated_ids:
                self.generated_ids.add(new)
                return {"new_id": new}

    def list_users(self) -> dict[str, object]:
        return {"user_list": list(self.user_map)}

    def get_user_id(self, user: str) -> dict[str, object]:
        if user not in self.user_map:
            return {"error": f"User '{user}' not found in the workspace."}
        return {"user_id": self.user_map[user]}

    def message_login(self, user_id: str) -> dict[str, object]:
        if user_id not in self.user_map.values():
            return {"login_status": False, "message": f"User ID '{user_id}' not found."}
        self.current_user = user_id
        return {"login_status": True, "message": f"User '{user_id}' logged in successfully."}

    def message_get_login_status(self) -> dict[str, bool]:
        return {"login_status": bool(self.current_user)}

    def send_message(self, receiver_id: str, message: str) -> dict[str, object]:
        if not self.current_user:
            return {"error": "No user is currently logged in."}
        if receiver_id not in self.user_map.values():
            return {"error": f"Receiver ID '{receiver_id}' not found."}
        message_id = self._new_id()
        self.inbox.append({receiver_id: message})
        self.message_count += 1
        return {
            "sent_status": True,
            "message_id": message_id,
            "message": f"Message sent to '{receiver_id}' successfully.",
        }

    def delete_message(self, receiver_id: str) -> dict[str, object]:
        # The doc also offers `message_id`, but BFCL v3's simulation takes the receiver only:
        # passing it fails with a TypeError, there as here.
        if not self.current_user:
            return {"error": "No user is currently logged in."}
        for entry in reversed(self.inbox):  # the most recent message to that receiver
            receiver = next(iter(entry))
            if receiver == receiver_id:
                self.inbox.remove(entry)
                return {
                    "deleted_status": True,
                    "message_id": receiver,
                    "message": f"Receiver {receiver_id}'s first message deleted successfully.",
                }
        return {"error": f"Receiver ID {receiver_id} not found."}

    def view_messages_sent(self) -> dict[str, object]:
        if not self.current_user:
            return {"error": "No user is currently logged in."}
        sent: dict[str, list[str]] = {}
        for entry in self.inbox:
            receiver, text = next(iter(entry.items()))
            sent.setdefault(receiver, []).append(text)
        return {"messages": sent}

    def add_contact(self, user_name: str) -> dict[str, object]:
        if user_name in self.user_map:
            return {"error": f"User name '{user_name}' already exists."}
        self.user_count += 1
        user_id = f"USR{str(self.user_count).zfill(3)}"
        if user_id in self.user_map.values():
            return {"error": f"User ID '{user_id}' already exists."}
        self.user_map[user_name] = user_id
        return {
            "added_status": True,
            "user_id": user_id,
            "message": f"Contact '{user_name}' added successfully.",
        }

    def search_messages(self, keyword: str) -> dict[str, object]:
        if not self.current_user:
            return {"error": "No user is currently logged in."}
        key = keyword.lower()
        hits = []
        for entry in self.inbox:
            receiver, text = next(iter(entry.items()))
            if key in text.lower():
                hits.append({"receiver_id": receiver, "message": text})
        return {"results": hits}

    def get_message_stats(self) -> dict[str, object]:
        if not self.current_user:
            return {"error": "No user is currently logged in."}
        receivers = [next(iter(entry)) for entry in self.inbox]
        return {"stats": {"received_count": len(receivers), "total_contacts": len(set(receivers))}}
