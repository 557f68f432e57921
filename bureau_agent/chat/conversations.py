"""What the relay remembers of each conversation, bounded: an LRU of conversations.

A conversation holds what a backend needs to continue it: the recent turns (openai backend, which
resends the history with each message) or the backend's own session id (command backend, which
resumes a session the agent keeps itself). Its lock makes two messages of one conversation take
turns, so each sees the other's reply in its history.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses


@dataclasses.dataclass
class Conversation:
    id: str
    history: collections.deque[dict[str, str]]  # {"role", "content"} messages, oldest first
    session_id: str | None = None  # the backend's own id for this conversation, once it named one
    turns: int = 0  # replies received so far
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    def add_turn(self, message: str, reply: str) -> None:
        self.history.extend(({"role": "user", "content": message}, {"role": "assistant", "content": reply}))
        self.turns += 1


class Conversations:
    """At most max_conversations, the least recently used dropped first; history_turns per one."""

    def __init__(self, max_conversations: int, history_turns: int) -> None:
        self.max_conversations = max_conversations
        self.history_turns = history_turns
        self._items: collections.OrderedDict[str, Conversation] = collections.OrderedDict()

    def get(self, conversation_id: str) -> Conversation:
        """The conversation of that id, created empty when unknown (or forgotten)."""
        conversation = self._items.get(conversation_id)
        if conversation is None:
            history: collections.deque[dict[str, str]] = collections.deque(maxlen=2 * self.history_turns)
            conversation = self._items[conversation_id] = Conversation(conversation_id, history)
            while len(self._items) > self.max_conversations:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(conversation_id)
        return conversation

    def __contains__(self, conversation_id: str) -> bool:
        return conversation_id in self._items

    def __len__(self) -> int:
        return len(self._items)
