"""Rule semantics: groups, exclusions, proximity, places, tiers, names and errors."""

from __future__ import annotations

from typing import Any

import pytest

from bot.classify import Classifier, RulesError

SETTINGS = {
    "alert": 0.75,
    "digest": 0.5,
    "title_weight": 1.0,
    "lead_weight": 0.8,
    "text_weight": 0.5,
    "lead_words": 10,
}
FILLER = " ".join(["word"] * 30)  # pushes what follows out of the lead


def clf(**topics: Any) -> Classifier:
    return Classifier.from_topics({"settings": SETTINGS, **topics})


def one_rule(groups: list[Any], **rule: Any) -> Classifier:
    return clf(t={"label": "Test topic", "rules": [{"name": "r", "groups": groups, **rule}]})


def test_all_groups_must_match_any_term_of_each() -> None:
    c = one_rule([{"en": ["court", "tribunal"]}, {"en": ["syria"]}])
    assert c.classify("Tribunal hears Syria case", "").relevant
    assert not c.classify("Tribunal hears case", "").relevant
    res = c.classify("Court on Syria", "")
    assert [(m.term, m.field) for m in res.matches] == [("court", "title"), ("syria", "title")]


def test_prefix_terms_and_whole_words() -> None:
    c = one_rule([{"en": ["tortur*"]}, {"en": ["syria"]}])
    assert c.classify("Syria tortured prisoners", "").relevant
    assert not c.classify("Syrian retorture", "").relevant  # no prefix on syria; mid-word


def test_arabic_clitics_before_terms() -> None:
    c = one_rule([{"ar": ["المعتقلين"]}, {"ar": ["سوريا"]}])
    for title in ("والمعتقلين في سوريا", "للمعتقلين بسوريا", "معتقلين وسوريا"):
        assert c.classify(title, "", "ar").relevant, title
    assert not c.classify("المعتقلين في سوريالية", "", "ar").relevant


def test_arabic_pronoun_suffixes_after_terms() -> None:
    c = one_rule([{"ar": ["محاكمة", "سجن"]}, {"ar": ["الأسد"]}])
    assert c.classify("مطالبات بمحاكمته بعد سقوط الأسد", "", "ar").relevant  # ta marbuta -> ت
    assert c.classify("تسليم الأسد لمحاكمتهم", "", "ar").relevant
    assert c.classify("الأسد وسجنها", "", "ar").relevant
    assert not c.classify("محاكمات الأسد", "", "ar").relevant  # a plural is another word
    assert not c.classify("محاكمت الأسد", "", "ar").relevant  # ت needs a pronoun after it
    assert not c.classify("محاكمة أسدي", "", "ar").relevant  # only pronoun suffixes
    assert not c.classify("سجنبي الأسد", "", "ar").relevant


def test_exclusion_anywhere_and_title_only() -> None:
    c = clf(
        t={
            "label": "Trials",
            "exclude": [{"where": "title", "en": ["isis"]}],
            "rules": [
                {
                    "name": "trial",
                    "groups": [{"en": ["trial"]}, {"en": ["syria*"]}],
                    "exclude": [{"en": ["swap"]}],
                }
            ],
        }
    )
    assert c.classify("Syrian officer on trial", "").relevant
    assert not c.classify("ISIS member on trial in Syria", "").relevant
    assert c.classify("Syrian officer on trial", "Earlier he fought ISIS.").relevant
    assert not c.classify("Syrian officer on trial", "A prisoner swap was agreed.").relevant


def test_proximity_in_text_and_title_counts_as_near() -> None:
    c = one_rule([{"en": ["icj"]}, {"en": ["syria"]}], near=5)
    assert c.classify("", "The ICJ ruled on Syria today").relevant
    far = "The ICJ ruled today. " + FILLER + " Syria"
    assert c.classify("", far).score == 0
    assert c.classify("Syria", "The ICJ ruled today. " + FILLER).score > 0


def test_title_weighs_more_than_lead_more_than_body() -> None:
    c = one_rule([{"en": ["saydnaya"]}], weight=0.9)
    title = c.classify("Saydnaya", "").score
    lead = c.classify("News", "Saydnaya prison").score
    body = c.classify("News", FILLER + " Saydnaya").score
    assert title > lead > body
    assert c.classify("Saydnaya", "").tier == "alert"
    assert c.classify("News", "Saydnaya prison").tier == "digest"
    assert c.classify("News", FILLER + " Saydnaya").tier == "ignore"


def test_a_rule_counts_at_its_weakest_place() -> None:
    c = one_rule([{"en": ["opcw"]}, {"en": ["syria"]}], weight=0.9)
    assert c.classify("Syria talks", FILLER + " OPCW").tier == "ignore"
    assert c.classify("OPCW on Syria", "").tier == "alert"


def test_where_title_group_needs_the_headline() -> None:
    c = one_rule([{"where": "title", "en": ["probe"]}, {"en": ["syria"]}])
    assert c.classify("UN probe", "in Syria").relevant
    assert not c.classify("UN news", "probe in Syria").relevant


def test_topics_add_up_but_rules_of_one_topic_confirm() -> None:
    a = {"label": "A", "rules": [{"name": "a", "weight": 0.9, "groups": [{"en": ["alpha"]}]}]}
    b = {"label": "B", "rules": [{"name": "b", "weight": 0.9, "groups": [{"en": ["beta"]}]}]}
    two_topics = clf(a=a, b=b).classify("News", FILLER + " alpha beta")
    assert two_topics.tier == "digest" and two_topics.topics == ["a", "b"]
    same = {
        "label": "A",
        "rules": [
            {"name": "a", "weight": 0.9, "groups": [{"en": ["alpha"]}]},
            {"name": "b", "weight": 0.9, "groups": [{"en": ["beta"]}]},
        ],
    }
    one_topic = clf(a=same).classify("News", FILLER + " alpha beta")
    assert one_topic.score < two_topics.score


def test_topic_thresholds_override_settings() -> None:
    topic = {
        "label": "ICJ",
        "alert": 0.4,
        "digest": 0.3,
        "rules": [{"name": "r", "weight": 0.9, "groups": [{"en": ["icj"]}]}],
    }
    assert clf(t=topic).classify("News", FILLER + " ICJ").tier == "alert"


def test_protected_names_do_not_count_alone() -> None:
    c = Classifier.from_topics(
        {
            "names": {"en": ["the syria campaign"]},
            "t": {"label": "Syria", "rules": [{"name": "r", "groups": [{"en": ["syria"]}]}]},
        }
    )
    assert not c.classify("The Syria Campaign raises funds", "").relevant
    assert c.classify("The Syria Campaign says Syria must act", "").relevant


def test_lexicon_references_expand_per_language() -> None:
    c = Classifier.from_topics(
        {
            "lexicon": {"syria": {"en": ["syria"], "fr": ["syrie"], "any": ["assad"]}},
            "t": {
                "label": "T",
                "rules": [{"name": "r", "groups": [{"en": ["icj"], "fr": ["cij"]}, "@syria"]}],
            },
        }
    )
    assert c.classify("CIJ et Syrie", "", "fr").relevant
    assert c.classify("ICJ and Assad", "", "en").relevant
    assert not c.classify("CIJ et Syrie", "", "en").relevant  # French terms off for English
    assert c.classify("CIJ et Syrie", "", None).relevant  # unknown language: all terms


def test_arabic_rules_apply_to_arabic_script_in_other_languages() -> None:
    c = one_rule([{"ar": ["صيدنايا"]}])
    assert c.classify("Report: صيدنايا", "", "en").relevant


def test_explanation_names_topic_terms_and_place() -> None:
    c = one_rule([{"en": ["icj"]}, {"en": ["syria"]}])
    assert c.classify("ICJ hears Syria", "").explain() == "Test topic: 'icj' + 'syria' in title"
    mixed = c.classify("ICJ", "about Syria").explain()
    assert mixed == "Test topic: 'icj' (title) + 'syria' (text)"
    assert c.classify("", "").explain() == "no topic rule matched"


def test_to_dict_shape() -> None:
    res = one_rule([{"en": ["icj"]}]).classify("ICJ", "")
    assert res.to_dict() == {
        "score": 1.0,
        "relevant": True,
        "tier": "alert",
        "topics": ["t"],
        "matches": [{"term": "icj", "topic": "t", "field": "title"}],
    }


def test_bad_input_is_handled() -> None:
    c = one_rule([{"en": ["saydnaya"]}])
    assert c.classify("", "").tier == "ignore"
    assert c.classify("<h1>Saydnaya</h1>", "<p>&amp;</p>").relevant
    long_body = "word " * 10_000 + "saydnaya"  # beyond max_chars: not read
    capped = Classifier.from_topics(
        {
            "settings": {"max_chars": 1000},
            "t": {"label": "T", "rules": [{"name": "r", "groups": [{"en": ["saydnaya"]}]}]},
        }
    )
    assert not capped.classify("", long_body).relevant


@pytest.mark.parametrize(
    ("topics", "path", "words"),
    [
        (
            {"icj": {"label": "ICJ", "rules": [{"name": "x", "groups": [{"en": ["to*rture"]}]}]}},
            ("icj", "rules", 0, "groups", 0, "en", 0),
            ["topic 'icj'", "rule 'x'", "'*'"],
        ),
        (
            {
                "icj": {
                    "label": "ICJ",
                    "rules": [{"name": "x", "groups": [{"en": ["abc"], "ar": ["@nope"]}]}],
                }
            },
            ("icj", "rules", 0, "groups", 0, "ar", 0),
            ["topic 'icj'", "unknown lexicon entry '@nope'"],
        ),
        (
            {"icj": {"label": "ICJ", "rules": [{"name": "x", "groups": [{"es": ["corte"]}]}]}},
            ("icj", "rules", 0, "groups", 0, "es"),
            ["topic 'icj'", "rule 'x'", "unknown key 'es'"],
        ),
        (
            {"icj": {"label": "ICJ", "rules": [{"name": "x", "weight": 3, "groups": ["icj"]}]}},
            ("icj", "rules", 0, "weight"),
            ["topic 'icj'", "rule 'x'", "weight"],
        ),
        (
            {"icj": {"label": "ICJ", "rules": [{"name": "x", "groups": [{"en": []}]}]}},
            ("icj", "rules", 0, "groups", 0),
            ["no terms"],
        ),
        (
            {"icj": {"rules": [{"name": "x", "groups": ["icj"]}]}},
            ("icj", "label"),
            ["topic 'icj'", "'label' is required"],
        ),
        (
            {
                "settings": {"alert": 0.3, "digest": 0.6},
                "t": {"label": "T", "rules": [{"name": "x", "groups": ["icj"]}]},
            },
            ("settings",),
            ["digest threshold"],
        ),
        ([], (), ["mapping"]),
    ],
)
def test_rules_errors_name_topic_rule_and_location(
    topics: Any, path: tuple[Any, ...], words: list[str]
) -> None:
    with pytest.raises(RulesError) as err:
        Classifier.from_topics(topics)
    assert err.value.path == path
    for word in words:
        assert word in str(err.value)
