"""The shipped topic rules in feeds.yaml, on headlines written for these tests.

Each subject of the issue in each language is recognised; near misses (other
courts, torture elsewhere, Syria news without a justice angle) stay out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.classify import Classifier

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clf() -> Classifier:
    data = yaml.safe_load((ROOT / "feeds.yaml").read_text(encoding="utf-8"))
    return Classifier.from_topics(data["topics"])


RELEVANT = [
    (
        "en",
        "Netherlands and Canada take Syria to the International Court of Justice",
        "icj_torture_case",
    ),
    ("en", "Syria must comply with the Convention against Torture, court told", "icj_torture_case"),
    ("en", "Russia vetoes bid to refer Syria to the International Criminal Court", "icc_referral"),
    (
        "en",
        "Koblenz court sentences former Syrian intelligence officer to life",
        "universal_jurisdiction",
    ),
    (
        "en",
        "UN commission of inquiry says Syrian government forces committed war crimes",
        "un_investigations",
    ),
    ("en", "OPCW report blames Syrian air force for sarin attacks", "chemical_weapons"),
    ("en", "UN inspectors to investigate chlorine attack in Syria", "chemical_weapons"),
    ("en", "Caesar Act sanctions target Assad's backers", "detention_and_torture"),
    ("en", "Thousands executed at Saydnaya prison, report says", "detention_and_torture"),
    ("en", "Mass grave with thousands of bodies found near Damascus", "detention_and_torture"),
    (
        "ar",
        "مجلس الأمن يتبنى قرارا لتحديد المسؤولين عن الهجمات الكيماوية في سوريا",
        "chemical_weapons",
    ),
    ("ar", "الائتلاف يطالب بإحالة جرائم نظام الأسد إلى المحكمة الجنائية الدولية", "icc_referral"),
    ("ar", "آلاف الصور تكشف تعذيب المعتقلين في سجون الأسد", "detention_and_torture"),
    ("ar", "لجنة التحقيق الدولية: النظام السوري ارتكب جرائم ضد الإنسانية", "un_investigations"),
    ("ar", "هولندا وكندا تقاضيان سوريا أمام محكمة العدل الدولية بسبب التعذيب", "icj_torture_case"),
    (
        "fr",
        "Procès à Paris de trois hauts responsables du régime syrien pour crimes contre l'humanité",
        "universal_jurisdiction",
    ),
    (
        "fr",
        "Syrie : la Cour internationale de justice ordonne de prévenir la torture",
        "icj_torture_case",
    ),
    (
        "de",
        "Internationaler Gerichtshof verhandelt Klage gegen Syrien wegen Folter",
        "icj_torture_case",
    ),
    (
        "de",
        "Oberlandesgericht verurteilt syrischen Arzt wegen Folter zu lebenslanger Haft",
        "universal_jurisdiction",
    ),
    (
        "nl",
        "Nederland en Canada slepen Syrië voor het Internationaal Gerechtshof om marteling",
        "icj_torture_case",
    ),
]

NEAR_MISSES = [
    ("en", "ICC issues arrest warrant for Putin over deportation of children"),
    ("en", "ICJ hears genocide case brought by South Africa"),
    ("en", "Israeli strikes hit Damascus airport"),
    ("en", "Dutch court convicts woman for joining Islamic State in Syria"),
    ("en", "Iran: protesters tortured in regime prisons, rights group says"),
    ("en", "Syrian refugee sentenced for murder in Germany"),
    ("en", "Canada and the Netherlands sign new trade agreement"),
    ("en", "Kurdish-run prisons in Syria holding ISIS fighters come under attack"),
    ("en", "The Syria Campaign launches appeal for earthquake relief"),
    ("en", "Suspected chemical attack kills dozens in rebel-held town in Syria"),
    ("ar", "غارات إسرائيلية على مواقع قرب دمشق"),
    ("ar", "محاكمة شاب في ألمانيا بتهمة الانضمام إلى داعش في سوريا"),
    ("fr", "La Douma russe adopte une loi sur la torture"),
    ("de", "Sanktionen gegen den Internationalen Strafgerichtshof"),
]


@pytest.mark.parametrize(("lang", "title", "topic"), RELEVANT)
def test_subjects_are_recognised_in_every_language(
    clf: Classifier, lang: str, title: str, topic: str
) -> None:
    res = clf.classify(title, "", lang)
    assert res.relevant, res.explain()
    assert topic in res.topics, res.explain()


@pytest.mark.parametrize(("lang", "title"), NEAR_MISSES)
def test_near_misses_are_ignored(clf: Classifier, lang: str, title: str) -> None:
    res = clf.classify(title, "", lang)
    assert res.tier == "ignore", res.explain()


def test_strong_headline_alerts_and_explains(clf: Classifier) -> None:
    res = clf.classify(
        "Netherlands and Canada take Syria to the International Court of Justice over torture",
        "The case invokes the UN Convention against Torture.",
        "en",
    )
    assert res.tier == "alert"
    assert res.explain().startswith("ICJ torture case")


def test_passing_mention_deep_in_a_syria_story_is_not_enough(clf: Classifier) -> None:
    body = "Talks on the political process continued in the capital. " * 8
    res = clf.classify("Syria's foreign minister visits Oman", body + "The OPCW met too.", "en")
    assert res.tier == "ignore", res.explain()
