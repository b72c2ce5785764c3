"""Stories: the same news from several outlets, grouped so advocates get it once."""

from bot.stories.assign import assign_stories
from bot.stories.fingerprint import Fingerprint, fingerprint
from bot.stories.index import StoryIndex
from bot.stories.similarity import same_story
from bot.stories.view import StoryView, collapse, digest_items, stories_for

__all__ = [
    "Fingerprint",
    "StoryIndex",
    "StoryView",
    "assign_stories",
    "collapse",
    "digest_items",
    "fingerprint",
    "same_story",
    "stories_for",
]
