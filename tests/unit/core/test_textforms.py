"""The search forms of a name: simplified characters, pinyin, initials, typo neighbours."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core import textforms as tf

SYLLABLES = sorted(tf.syllables())


def test_traditional_becomes_simplified():
    assert tf.simplified("宋河糧液") == "宋河粮液"
    assert tf.simplified("宋河粮液") == "宋河粮液"
    assert tf.simplified("ＡＢＣ") == "ABC"  # NFKC first


def test_pinyin_and_initials_of_a_brand():
    assert tf.pinyin_syllables("宋河粮液") == [["song", "he", "liang", "ye"]]
    assert tf.pinyin_syllables("宋河糧液") == [["song", "he", "liang", "ye"]]
    assert tf.initials("宋河粮液") == ["shly"]
    assert tf.pinyin_syllables("Songhe 2号") == [["hao"]]  # Latin is left as it is


def test_segmentations_of_typed_pinyin():
    assert tf.pinyin_segmentations("songhe") == [(["song", "he"], False)]
    assert tf.pinyin_segmentations("song he") == [(["song", "he"], False)]
    assert tf.pinyin_segmentations("songheliangye")[0] == (["song", "he", "liang", "ye"], False)
    assert (["xi", "an"], False) in tf.pinyin_segmentations("xian")
    assert tf.pinyin_segmentations("songhel") == [(["song", "he", "l"], True)]
    assert tf.pinyin_segmentations("shly") == []
    assert tf.pinyin_segmentations("宋河") == []


def test_completions_are_the_syllables_a_start_begins():
    assert tf.completions("jia") == ("jia", "jian", "jiang", "jiao")
    assert tf.completions("liang") == ("liang",)
    assert "shuang" in tf.completions("s") and all(c.startswith("s") for c in tf.completions("s"))
    assert tf.completions("q" * 3) == ()


def test_typo_neighbours_read_as_pinyin():
    assert tf.typo_variants("sognhe") == ["songhe"]
    assert "songheliangye" in tf.typo_variants("songhelaingye")
    assert tf.typo_variants("songhe") == []  # already pinyin: nothing to correct
    assert tf.typo_variants("shy") == []  # too short to guess


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=5))
def test_any_run_of_syllables_segments_back(pieces):
    """Whatever syllables are run together, one reading gives them back (spaced or not)."""
    run = "".join(pieces)
    readings = [p for p, partial in tf.pinyin_segmentations(run) if not partial]
    assert pieces in readings or len(tf.pinyin_segmentations(run)) == tf.MAX_SEGMENTATIONS
    assert (pieces, False) in tf.pinyin_segmentations(" ".join(pieces))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SYLLABLES), min_size=2, max_size=4), st.data())
def test_one_deletion_is_corrected(pieces, data):
    """A slip that leaves no pinyin reading has the intended word among its neighbours."""
    word = "".join(pieces)
    i = data.draw(st.integers(0, len(word) - 1))
    typed = word[:i] + word[i + 1 :]
    variants = tf.typo_variants(typed)
    assert all(tf.pinyin_segmentations(v, partial_last=False) for v in variants)
    assert len(variants) <= tf.MAX_TYPO_VARIANTS
    if tf.pinyin_segmentations(typed, partial_last=False) or len(typed) < tf.TYPO_MIN_LENGTH:
        assert variants == []


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), max_size=8))
def test_simplified_is_idempotent(text):
    once = tf.simplified(text)
    assert tf.simplified(once) == once
    assert len(tf.initials(text)[0] if text else "") == len(text)


def _typo_reference(typed: str) -> list[str]:
    """typo_variants by brute force: every edit in the window, each read whole."""
    word = typed.lower()
    reach = tf._reach(word)
    if not tf.TYPO_MIN_LENGTH <= len(word) <= tf.TYPO_MAX_LENGTH or reach[-1]:
        return []
    n, letters = len(word), "abcdefghijklmnopqrstuvwxyz"
    broke = max(i for i, ok in enumerate(reach) if ok)
    window = range(max(0, broke - 5), min(n, broke + 3))
    edits = [word[:i] + word[i + 1 :] for i in window]
    edits += [word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in window if i < n - 1]
    edits += [word[:i] + c + word[i + 1 :] for i in window for c in letters]
    edits += [word[:i] + c + word[i:] for i in [*window, n] for c in letters]
    read = [e for e in dict.fromkeys(edits) if e != word and tf._reach(e)[-1]]
    return read[: tf.MAX_TYPO_VARIANTS]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(SYLLABLES), min_size=2, max_size=5),
    st.integers(0, 100),
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.integers(0, 3),
)
def test_typo_variants_are_every_edit_that_reads_in_order(pieces, at, letter, how):
    """Only the syllables across an edit are read (textforms._reads, _around): the
    variants are exactly those of trying every edit and reading it whole."""
    word = "".join(pieces)
    i = at % len(word)
    typed = [
        word[:i] + word[i + 1 :],
        word[:i] + word[i + 1 : i + 2] + word[i] + word[i + 2 :],
        word[:i] + letter + word[i + 1 :],
        word[:i] + letter + word[i:],
    ][how]
    assert tf.typo_variants(typed) == _typo_reference(typed)


def test_typo_variants_of_known_slips_equal_the_brute_force():
    for typed in ("lantignxia", "zhijinagfu", "jiafengeh", "zhijiangaln", "sognhe", "qiandaohogn"):
        assert tf.typo_variants(typed) == _typo_reference(typed) != []
