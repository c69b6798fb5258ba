"""An in-process LRU cache with a TTL per entry: a dict for finding an entry at once, and a
doubly linked list that keeps the entries in order of use, so the least recently used one
is always at the tail, ready to be evicted."""

from __future__ import annotations

from typing import Any


class Node:
    """One entry, linked to its neighbours in order of use (head side: most recent)."""

    def __init__(self, key: str, value: Any, expires_at: float) -> None:
        self.key = key
        self.value = value
        self.expires_at = expires_at  # simulated seconds; live while now_s < expires_at
        self.prev: Node | None = None
        self.next: Node | None = None


class LruTtlCache:
    """At most `max_entries` entries, each live for `ttl_s` seconds after it was put.

    `self.head` and `self.tail` are sentinel nodes that hold no entry: the real entries sit
    between them, most recently used first. With sentinels, linking and unlinking never have
    to check for None at the ends of the list.

    Args:
        max_entries: the most entries held; putting one more evicts the least recently used.
        ttl_s: seconds an entry stays live after `put` (a `get` does not extend it).
    """

    def __init__(self, max_entries: int, ttl_s: float) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.entries: dict[str, Node] = {}  # key -> its node in the list
        self.head = Node("<head>", None, 0.0)
        self.tail = Node("<tail>", None, 0.0)
        self.head.next, self.tail.prev = self.tail, self.head

    def __len__(self) -> int:
        return len(self.entries)

    def keys_newest_first(self) -> list[str]:
        """The keys held, most recently used first (walks your links from the head)."""
        keys, node = [], self.head.next
        while node is not None and node is not self.tail:
            keys.append(node.key)
            node = node.next
        return keys

    def _unlink(self, node: Node) -> None:
        """Take `node` out of the list (it stays in `entries` until you delete it there)."""
        # BEGIN SOLUTION
        # TODO: join the node's two neighbours to each other, and clear the node's own links
        before, after = node.prev, node.next
        assert before is not None and after is not None, "only linked nodes can be unlinked"
        before.next, after.prev = after, before
        node.prev = node.next = None
        # END SOLUTION

    def _push_front(self, node: Node) -> None:
        """Link `node` in right after the head: it becomes the most recently used."""
        # BEGIN SOLUTION
        # TODO: four links change: node.prev, node.next, the head's next, the old first's prev
        first = self.head.next
        assert first is not None
        node.prev, node.next = self.head, first
        self.head.next = node
        first.prev = node
        # END SOLUTION

    def get(self, key: str, now_s: float) -> Any | None:
        """The value under `key` if it is held and still live, else None. A hit makes the
        entry the most recently used; an expired entry counts as missing."""
        # BEGIN SOLUTION
        # TODO: not held -> None; expired (now_s >= expires_at) -> None
        # TODO: a hit: move its node to the front (unlink, push front), return its value
        node = self.entries.get(key)
        if node is None:
            return None
        if now_s >= node.expires_at:
            # Missing, as far as the caller knows. It keeps its place: the caller is about to
            # load the row and put it again, and an unused expired entry is evicted first.
            return None
        self._unlink(node)
        self._push_front(node)
        return node.value
        # END SOLUTION

    def put(self, key: str, value: Any, now_s: float) -> None:
        """Store `value` under `key`, live until `now_s + ttl_s`, as the most recently used
        entry; then evict from the least recently used end while more than `max_entries`
        entries are held (never the entry just put)."""
        # BEGIN SOLUTION
        # TODO: a key already held: update its value and expiry and move it to the front
        # TODO: a new key: a new node at the front, and in `entries`
        # TODO: then, while over max_entries, evict the node just before the tail
        node = self.entries.get(key)
        if node is not None:
            node.value, node.expires_at = value, now_s + self.ttl_s
            self._unlink(node)
        else:
            node = Node(key, value, now_s + self.ttl_s)
            self.entries[key] = node
        self._push_front(node)
        while len(self.entries) > self.max_entries:
            oldest = self.tail.prev
            assert oldest is not None
            if oldest is node:  # max_entries below 1: keep the newcomer anyway
                break
            self._unlink(oldest)
            del self.entries[oldest.key]
        # END SOLUTION

    def delete(self, key: str) -> bool:
        """Forget `key` (its row changed); True if it was held."""
        # BEGIN SOLUTION
        # TODO: remove it from both the dict and the list; a key not held is not an error
        node = self.entries.pop(key, None)
        if node is None:
            return False
        self._unlink(node)
        return True
        # END SOLUTION
