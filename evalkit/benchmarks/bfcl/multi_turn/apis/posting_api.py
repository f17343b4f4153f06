"""TwitterAPI: posting, retweeting, commenting and following, behaving as in BFCL v3.

As in BFCL, tweets posted without tags or mentions share one default list (BFCL's mutable
default argument), so `mention` on one such tweet changes the others too, the ground
truth's included; see `shared.py` for the scope of the sharing.
"""

from __future__ import annotations

import copy
from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.shared import SharedDefaults

_DEFAULTS: dict[str, object] = {
    "username": "john",
    "password": "john123",
    "authenticated": False,
    "tweets": {},
    "comments": {},
    "retweets": {},
    "following_list": ["alice", "bob"],
    "tweet_counter": 0,
}


_UNSET: Any = object()  # "argument not given" (None, when given, is stored as given)


class TwitterAPI:
    def __init__(self, shared: SharedDefaults | None = None) -> None:
        self._shared = shared or SharedDefaults()
        self._load_scenario({})

    def _load_scenario(self, scenario: dict[str, Any], long_context: bool = False) -> None:
        d = copy.deepcopy(_DEFAULTS)
        self.username: str = scenario.get("username", d["username"])
        self.password: str = scenario.get("password", d["password"])
        self.authenticated: bool = scenario.get("authenticated", d["authenticated"])
        self.comments: dict[Any, list[dict[str, str]]] = scenario.get("comments", d["comments"])
        self.retweets: dict[str, list[int]] = scenario.get("retweets", d["retweets"])
        self.following_list: list[str] = scenario.get("following_list", d["following_list"])
        self.tweet_counter: int = scenario.get("tweet_counter", d["tweet_counter"])
        self.tweets = {int(k): v for k, v in scenario.get("tweets", d["tweets"]).items()}

    def _need_login(self, action: str) -> dict[str, object] | None:
        if self.authenticated:
            return None
        return {"error": f"User not authenticated. Please authenticate before {action}."}

    def authenticate_twitter(self, username: str, password: str) -> dict[str, bool]:
        if (username, password) == (self.username, self.password):
            self.authenticated = True
            return {"authentication_status": True}
        return {"authentication_status": False}

    def posting_get_login_status(self) -> dict[str, bool]:
        return {"login_status": bool(self.authenticated)}

    def post_tweet(
        self, content: str, tags: list[str] = _UNSET, mentions: list[str] = _UNSET
    ) -> dict[str, object]:
        if err := self._need_login("posting"):
            return err
        tweet = {
            "id": self.tweet_counter,
            "username": self.username,
            "content": content,
            "tags": self._shared.tweet_tags if tags is _UNSET else tags,
            "mentions": self._shared.tweet_mentions if mentions is _UNSET else mentions,
        }
        self.tweets[self.tweet_counter] = tweet
        self.tweet_counter += 1
        return tweet

    def retweet(self, tweet_id: int) -> dict[str, object]:
        if err := self._need_login("retweeting"):
            return err
        if tweet_id not in self.tweets:
            return {"error": f"Tweet with ID {tweet_id} not found."}
        mine = self.retweets.setdefault(self.username, [])
        if tweet_id in mine:
            return {"retweet_status": "Already retweeted"}
        mine.append(tweet_id)
        return {"retweet_status": "Successfully retweeted"}

    def comment(self, tweet_id: int, comment_content: str) -> dict[str, str]:
        if not self.authenticated:
            # BFCL raises a dict here, which Python turns into this TypeError.
            raise TypeError("exceptions must derive from BaseException")
        if tweet_id not in self.tweets:
            return {"error": f"Tweet with ID {tweet_id} not found."}
        self.comments.setdefault(tweet_id, []).append({"username": self.username, "content": comment_content})
        return {"comment_status": "Comment added successfully"}

    def mention(self, tweet_id: int, mentioned_usernames: list[str]) -> dict[str, str]:
        if tweet_id not in self.tweets:
            return {"error": f"Tweet with ID {tweet_id} not found."}
        self.tweets[tweet_id]["mentions"].extend(mentioned_usernames)
        return {"mention_status": "Users mentioned successfully"}

    def follow_user(self, username_to_follow: str) -> dict[str, object]:
        if err := self._need_login("following"):
            return err
        if username_to_follow in self.following_list:
            return {"follow_status": False}
        self.following_list.append(username_to_follow)
        return {"follow_status": True}

    def list_all_following(self) -> Any:
        if err := self._need_login("listing following"):
            return err
        return self.following_list

    def unfollow_user(self, username_to_unfollow: str) -> dict[str, object]:
        if err := self._need_login("unfollowing"):
            return err
        if username_to_unfollow not in self.following_list:
            return {"unfollow_status": False}
        self.following_list.remove(username_to_unfollow)
        return {"unfollow_status": True}

    def get_tweet(self, tweet_id: int) -> dict[str, object]:
        if tweet_id not in self.tweets:
            return {"error": f"Tweet with ID {tweet_id} not found."}
        return self.tweets[tweet_id]

    def get_user_tweets(self, username: str) -> list[dict[str, object]]:
        return [t for t in self.tweets.values() if t["username"] == username]

    def search_tweets(self, keyword: str) -> list[dict[str, object]]:
        return [
            t
            for t in self.tweets.values()
            if keyword.lower() in t["content"].lower() or keyword.lower() in [g.lower() for g in t["tags"]]
        ]

    def get_tweet_comments(self, tweet_id: int) -> Any:
        if tweet_id not in self.tweets:
            return {"error": f"Tweet with ID {tweet_id} not found."}
        return self.comments.get(tweet_id, [])

    def get_user_stats(self, username: str) -> dict[str, int]:
        return {
            "tweet_count": sum(1 for t in self.tweets.values() if t["username"] == username),
            "following_count": len(self.following_list) if username == self.username else 0,
            "retweet_count": len(self.retweets.get(username, [])),
        }
