"""Relevance classifier: explainable multilingual topic rules from feeds.yaml."""

from bot.classify.engine import Classifier
from bot.classify.result import Classification, Match, RuleHit
from bot.classify.rules import RulesError

__all__ = ["Classification", "Classifier", "Match", "RuleHit", "RulesError"]
