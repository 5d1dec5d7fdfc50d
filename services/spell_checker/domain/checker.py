"""Checks one essay: which words to leave alone, which to correct, and how to write the fix."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import DamerauLevenshtein

from services.spell_checker.domain.compounds import CompoundSplitter
from services.spell_checker.domain.context import Context
from services.spell_checker.domain.corrector import WordCorrector
from services.spell_checker.domain.lexicon import Lexicon, remove_diacritics
from services.spell_checker.domain.model import CheckResult, Correction
from services.spell_checker.domain.tokenizer import APOSTROPHES, WordPart, tokenize

CURLY_APOSTROPHE = "\u2019"
# Every apostrophe a writer may type (the tokenizer's), as the dictionary's straight one.
_STRAIGHTENED = str.maketrans({mark: "'" for mark in APOSTROPHES})
# Languages that capitalise common nouns: a capital letter says nothing about a proper noun.
CAPITALISED_NOUN_LANGUAGES = frozenset({"de"})
# A compound this close to a dictionary word is taken as that word misspelled: on SweLL
# (bench.spellcheck_swedish) it flags 2,048 tokens marked wrong instead of 1,569, and changes 149
# of 84,155 right ones instead of 108.
COMPOUND_EDITS = 1
# Languages whose accents are optional: a word known with them is known without (`cafe`).
OPTIONAL_ACCENT_LANGUAGES = frozenset({"en"})
# Letters of their own in a language, not accented ones: `hår` (hair) is not `har` (has).
OWN_LETTERS: dict[str, frozenset[str]] = {"sv": frozenset("åäö")}
ACRONYM_MAX_LENGTH = 5
ELISION_MAX_LENGTH = 4  # l', qu', dell': the elided words French and Italian put before a word
# Abbreviations students write in lower case that the dictionaries lack (`tv` is not `to`).
# Contractions learners write without their apostrophe, each as it is written with one. Left out:
# those that are words of their own as often (its, well, were, hell, shell, lets, id, ill).
_EN_CONTRACTIONS = {
    "im": "I'm",
    "ive": "I've",
    "dont": "don't",
    "cant": "can't",
    "wont": "won't",
    "didnt": "didn't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "arent": "aren't",
    "wasnt": "wasn't",
    "werent": "weren't",
    "hasnt": "hasn't",
    "havent": "haven't",
    "hadnt": "hadn't",
    "couldnt": "couldn't",
    "wouldnt": "wouldn't",
    "shouldnt": "shouldn't",
    "mustnt": "mustn't",
    "thats": "that's",
    "whats": "what's",
    "theyre": "they're",
    "youre": "you're",
    "theyve": "they've",
    "youve": "you've",
    "weve": "we've",
    "theres": "there's",
}
CONTRACTIONS: dict[str, dict[str, str]] = {"en": _EN_CONTRACTIONS}
COMMON_ABBREVIATIONS: dict[str, frozenset[str]] = {
    "en": frozenset(
        {"etc", "tv", "pc", "pcs", "cv", "cvs", "dvd", "dvds", "ceo", "dna", "gps", "html"}
        | {"usa", "uk", "un", "nasa", "nato", "unesco", "unicef", "fifa", "covid", "ielts"}
        | {"toefl", "gdp", "bbc", "fbi"}
    ),
}
_SHOUTING_SHARE = 0.5
_SHOUTING_MIN_WORDS = 5
# An essay of at least this many words, this share of which the dictionary does not know (fixed
# or unknown), is in another language: left unchanged, with a warning. Measured on the corpus:
# English essays checked as English reach 0.22 at most (0.006 typical); Swedish learner text
# checked as English 0.42 at least (0.56 typical).
FOREIGN_MIN_WORDS = 20
FOREIGN_SHARE = 0.35
# A sentence of at least this many words, more than this share of which the dictionary does not
# know, is a quotation in another language (an English essay quoting Swedish, or the other way):
# left as written, none of it corrected or reported. Measured on the corpus: see checker tests.
QUOTE_MIN_WORDS = 4
QUOTE_SHARE = 0.5
_QUOTE_BREAK = re.compile('[:;"\u201c\u201d\u201e\u00ab\u00bb()]').search


def _next_quote_break(text: str, start: int) -> int:
    """The position of the first quotation break at or after `start` (the text's length when
    there is none)."""
    found = _QUOTE_BREAK(text, start)
    return len(text) if found is None else found.start()


def normalize_word(word: str) -> str:
    """The dictionary form of a written word: NFC, lower case, straight apostrophes."""
    if word.isascii():  # most words: already NFC
        return (word.replace("`", "'") if "`" in word else word).lower()
    return unicodedata.normalize("NFC", word).translate(_STRAIGHTENED).lower()


_FIRST_APOSTROPHE = re.compile(f"[{re.escape(APOSTROPHES)}]").search


def _apostrophe_in(word: str) -> str | None:
    """The apostrophe `word` is written with (its first), if any."""
    found = _FIRST_APOSTROPHE(word)
    return None if found is None else found.group()


@dataclass(frozen=True)
class _TextTraits:
    shouting: bool  # mostly capitals: case says nothing about acronyms or names
    apostrophe: str  # the apostrophe the writer uses, for corrections that add one
    names: frozenset[str]  # capitalised words seen mid-sentence somewhere in the text
    respell: bool  # every fix respelled (in an essay with a British-only spelling, under `en`)


class EssayChecker:
    """Corrects misspelled words of one language and leaves everything else as written.

    Left alone: known words (also with a possessive `'s` or only differing in accents: `naïve`,
    and in English `cafe`; å, ä and ö are letters of their own in Swedish, not accents), words
    in the allow-lists, single letters, all-caps acronyms of up to five letters, likely proper
    nouns (capitalised, and not opening a sentence or also seen mid-sentence in the text), words
    with inner capitals, and in a compounding language known words written as one
    (domain.compounds) unless one edit from a dictionary word. Kept and reported as unknown:
    words with letters the language's dictionary never uses, and words with no candidate within
    two edits.
    """

    def __init__(
        self,
        lexicon: Lexicon,
        corrector: WordCorrector,
        *,
        allowed_words: Iterable[str] = (),
        variants: frozenset[str] = frozenset(),
        respell: Callable[[str], str] | None = None,
        respell_cues: frozenset[str] | None = None,
        capitalised_nouns: bool = False,
        own_letters: frozenset[str] = frozenset(),
        compounds: CompoundSplitter | None = None,
        contractions: Mapping[str, str] | None = None,
        quoted_words: frozenset[str] = frozenset(),
        language: str = "dictionary",
        optional_accents: bool = False,
        proper_nouns: Mapping[str, str] | None = None,
    ) -> None:
        self._lexicon = lexicon
        # Contractions written without an apostrophe (`dont`), and how to write them.
        self._contractions = contractions or {}
        # Words of another language essays quote (English in Swedish ones): never "corrected"
        # into a word of this one, reported unknown.
        self._quoted_words = quoted_words
        self._language = language  # as a warning names it: "en", "de"
        self._corrector = corrector
        self._allowed = frozenset(normalize_word(w) for w in allowed_words)
        # Other spellings of the language taken as written (lower case, straight apostrophes):
        # British words for English. Known like the dictionary's, never offered as fixes.
        self._variants = variants
        # How a fix is written when the dictionary's spelling is not the essay's (British), and
        # the words that say it is not (`colour`: British-only spellings); None: it never is
        # (`en-GB`). Without a cue, a fix is respelled only where the typed word is closer to
        # the respelling (`apoligised` -> `apologised`).
        self._respell = respell
        self._respell_cues = respell_cues
        self._capitalised_nouns = capitalised_nouns
        self._own_letters = own_letters
        # Dictionary words written without their accents (`cafe`, `naive`, `resume`), in a
        # language whose accents are optional (English loanwords): known too, not "corrected"
        # into another word (`cafe` is not `safe`). French `ecole` is still `école`.
        self._unaccented = frozenset(
            self._without_accents(word)
            for word in (lexicon.words if optional_accents else ())
            if not word.isascii()
        )
        # Splits an unknown lower-case word into known words written as one (Swedish).
        self._compounds = compounds
        # Dictionary words written only with a capital (`Brazilian`), by their lower-case form:
        # a fix into one is written so. On the spelling gold's tuning half, 3 wrong words
        # became right (`brazillian`, `olyimpic`, `holywood`), nothing else changed.
        self._proper_nouns = proper_nouns or {}

    @classmethod
    def for_language(
        cls,
        language: str,
        lexicon: Lexicon,
        corrector: WordCorrector,
        *,
        allowed_words: Iterable[str] = (),
        variants: frozenset[str] = frozenset(),
        respell: Callable[[str], str] | None = None,
        respell_cues: frozenset[str] | None = None,
        compounds: CompoundSplitter | None = None,
        quoted_words: frozenset[str] = frozenset(),
        proper_nouns: Mapping[str, str] | None = None,
    ) -> EssayChecker:
        """A checker with the language's rules: its common abbreviations, its use of capitals,
        its letters of their own."""
        return cls(
            lexicon,
            corrector,
            allowed_words=[*allowed_words, *COMMON_ABBREVIATIONS.get(language, ())],
            variants=variants,
            respell=respell,
            respell_cues=respell_cues,
            capitalised_nouns=language in CAPITALISED_NOUN_LANGUAGES,
            own_letters=OWN_LETTERS.get(language, frozenset()),
            compounds=compounds,
            contractions=CONTRACTIONS.get(language.split("-", 1)[0]),
            quoted_words=quoted_words,
            language=language,
            optional_accents=language in OPTIONAL_ACCENT_LANGUAGES,
            proper_nouns=proper_nouns,
        )

    @property
    def lexicon(self) -> Lexicon:
        """The dictionary this checker uses."""
        return self._lexicon

    def accepts(self, word: str) -> bool:
        """Whether the word (lower case, straight apostrophes: `normalize_word`) is taken as
        written: a dictionary word, one of the language's other spellings, an allowed one."""
        return self._accepted(word, self._allowed)

    def check(self, text: str, allowed_words: Iterable[str] = ()) -> CheckResult:
        """Check `text`; `allowed_words` adds to the configured allow-list for this text only."""
        tokens = tokenize(text)
        extra = {normalize_word(w) for w in allowed_words}
        allowed = self._allowed | extra if extra else self._allowed
        pieces: list[str] = []
        corrections: list[Correction] = []
        unknown: dict[str, None] = {}
        position = 0
        parts = tokens.parts
        # normalize_word and _accepted, with the commonest case of each inline: an ASCII word
        # without a backtick, known to the dictionary
        lookups = [
            word.lower() if word.isascii() and "`" not in word else normalize_word(word)
            for _, _, word, _, _ in parts
        ]
        traits = self._traits(text, parts, lookups)
        frequency = self._lexicon.frequency
        known = [lookup in frequency or self._accepted(lookup, allowed) for lookup in lookups]
        quoted = self._quoted(
            text, parts, [k or len(w) < 2 for k, w in zip(known, lookups, strict=True)]
        )
        contractions = self._contractions
        for k, whole in enumerate(parts):
            if k in quoted:
                continue  # a sentence in another language: not ours to correct
            if known[k] and lookups[k] not in contractions:
                continue  # most words: known as written (what `_replacement` would find)
            part = self._past_elision(whole, allowed)
            replacement = self._replacement(part, allowed, traits, (text, parts, k))
            if replacement is None:
                unknown[part.text] = None
            elif replacement != part.text:
                corrections.append(
                    Correction(part.start, part.end - part.start, part.text, replacement)
                )
                pieces.append(text[position : part.start])
                pieces.append(replacement)
                position = part.end
        pieces.append(text[position:])
        foreign = len(corrections) + len(unknown) + len(quoted)
        if tokens.word_count >= FOREIGN_MIN_WORDS and foreign > FOREIGN_SHARE * tokens.word_count:
            return CheckResult(
                text,
                (),
                (),
                tokens.word_count,
                warning=(
                    f"{foreign} of {tokens.word_count} words are not {self._language} words: the "
                    "essay seems to be in another language than its batch's, so it was left "
                    "unchanged"
                ),
            )
        return CheckResult("".join(pieces), tuple(corrections), tuple(unknown), tokens.word_count)

    def _quoted(
        self, text: str, parts: Sequence[WordPart], known: Sequence[bool]
    ) -> frozenset[int]:
        """The positions of the parts in stretches of another language: a sentence, or a stretch
        a colon or quotation marks set apart, of at least QUOTE_MIN_WORDS words, more than
        QUOTE_SHARE of them unknown to the dictionary (`known`: each part known, or a single
        letter)."""
        quoted: list[int] = []
        sentence: list[int] = []
        unknown = 0
        end = 0
        # Where a quotation break is, as the position of the next one from `end` on: most texts
        # have few, so this skips a search between every two words.
        next_break = _next_quote_break(text, 0)
        for k, part in enumerate([*parts, None]):
            apart = False
            if part is not None:
                if next_break < end:
                    next_break = _next_quote_break(text, end)
                apart = part.sentence_start or next_break < part.start
            if part is None or (apart and sentence):
                if len(sentence) >= QUOTE_MIN_WORDS and unknown > QUOTE_SHARE * len(sentence):
                    quoted += sentence
                sentence, unknown = [], 0
            if part is None:
                break
            sentence.append(k)
            end = part.end
            if not known[k]:
                unknown += 1
        return frozenset(quoted)

    def _replacement(
        self,
        part: WordPart,
        allowed: frozenset[str],
        traits: _TextTraits,
        place: tuple[str, Sequence[WordPart], int],
    ) -> str | None:
        """What to write instead of `part` (the word at `place`: the text, its parts and the
        part's position): itself to keep it, None when unknown."""
        word = part.text
        lookup = normalize_word(word)
        contraction = self._contractions.get(lookup)
        if contraction is not None and lookup not in allowed:
            return _written_like(word, contraction, traits.apostrophe)  # the writer's apostrophe
        if self._accepted(lookup, allowed) or (
            part.compound != word and self._accepted(normalize_word(part.compound), allowed)
        ):
            return word
        if len(lookup) == 1:
            return word  # an initial or list marker, or a word a small dictionary lacks
        if lookup in self._quoted_words:
            return None  # a word of another language, quoted: left as written
        if not traits.shouting and self._looks_like_a_name(part, lookup, traits):
            return word
        if not self._lexicon.letters.issuperset(lookup):
            return None  # letters this language's dictionary never uses: not ours to fix
        corrected = self._corrector.correct(lookup, _context(*place))
        if self._is_compound(lookup, corrected):
            return word
        if corrected is None or corrected == lookup or not set(corrected) & set(lookup):
            return None
        if _plural_of(lookup, corrected):
            return None  # `informations`, `homeworks`: grammar, not spelling (see _plural_of)
        corrected = self._respelled(lookup, corrected, traits.respell)
        corrected = self._proper_nouns.get(corrected, corrected)
        return _written_like(word, corrected, traits.apostrophe)

    def _respelled(self, lookup: str, corrected: str, essay_wide: bool) -> str:
        """The fix `corrected` of `lookup` in the essay's spelling: respelled throughout the
        essay (`essay_wide`), or where `lookup` is typed closer to the respelling. On the
        spelling gold's tuning half, `en` gets 5 more right fixes from the essay's cue and 2
        from the typed word, with no more false changes."""
        if self._respell is None:
            return corrected
        respelled = self._respell(corrected)
        if essay_wide or respelled == corrected:
            return respelled
        distance = DamerauLevenshtein.distance
        return respelled if distance(lookup, respelled) < distance(lookup, corrected) else corrected

    def _is_compound(self, lookup: str, corrected: str | None) -> bool:
        """Whether `lookup` is known words written as one, and not one edit from a dictionary
        word (`bocker` splits into `boc` and `ker` but is `böcker` misspelled) other than the
        same compound with another head (`skolbiblioteket` is not `skolbiblioteken`)."""
        parts = None if self._compounds is None else self._compounds.split(lookup)
        if parts is None or self._compounds is None:
            return False
        if corrected is None or DamerauLevenshtein.distance(lookup, corrected) > COMPOUND_EDITS:
            return True
        return self._compounds.with_other_head(parts, corrected)

    def _past_elision(self, part: WordPart, allowed: frozenset[str]) -> WordPart:
        """`l'ecole` -> `ecole`: after a known elided article or pronoun, check only the word."""
        word = part.text
        mark = _apostrophe_in(word)
        if mark is None:
            return part  # most words
        cut = word.find(mark)
        if not 0 < cut <= ELISION_MAX_LENGTH or self._accepted(normalize_word(word), allowed):
            return part
        if not self._lexicon.knows(normalize_word(word[: cut + 1])):
            return part
        start = part.start + cut + 1
        return WordPart(start, part.end, word[cut + 1 :], part.sentence_start, part.compound)

    def _accepted(self, lookup: str, allowed: frozenset[str]) -> bool:
        knows = self._lexicon.knows  # tokens are letters only, so membership is the whole test
        if knows(lookup) or lookup in allowed or lookup in self._variants:
            return True
        if lookup in self._unaccented:
            return True
        if lookup.endswith("'s"):
            stem = lookup[:-2]
            if knows(stem) or stem in allowed or stem in self._variants:
                return True
        bare = self._without_accents(lookup)
        return bare != lookup and knows(bare)  # `naïve`, `résumé`: an accented known word

    def _without_accents(self, word: str) -> str:
        if word.isascii():
            return word  # most words
        own = self._own_letters
        if not own:
            return remove_diacritics(word)
        return "".join(c if c in own else remove_diacritics(c) for c in word)

    def _looks_like_a_name(self, part: WordPart, lookup: str, traits: _TextTraits) -> bool:
        word = part.text
        if word.isupper():
            # an acronym; longer all-caps words are checked (BECUASE -> BECAUSE)
            return len(word) <= ACRONYM_MAX_LENGTH
        if any(c.isupper() for c in word[1:]):
            return True  # McDonald, iPhone
        if self._capitalised_nouns or not word[:1].isupper():
            return False
        return not part.sentence_start or lookup in traits.names

    def _traits(self, text: str, parts: Iterable[WordPart], lookups: Sequence[str]) -> _TextTraits:
        capitals = cased = 0
        names: set[str] = set()
        for part in parts:
            word = part.text
            if len(word) < 2:
                continue  # "I" and "a" say nothing about shouting
            if word.isupper():
                capitals += 1
                cased += 1
            elif word.islower():
                cased += 1
            elif not part.sentence_start and word[:1].isupper():
                names.add(normalize_word(word))
        shouting = cased >= _SHOUTING_MIN_WORDS and capitals > cased * _SHOUTING_SHARE
        cues = self._respell_cues
        respell = cues is None or not cues.isdisjoint(lookups)  # a set lookup per word: cheap
        return _TextTraits(shouting, _usual_apostrophe(text, parts), frozenset(names), respell)


def _plural_of(written: str, corrected: str) -> bool:
    """Whether `written` is `corrected` with a plural or third-person `s`/`es` (`informations`,
    `homeworks`, `everythings`): a word spelled right in the wrong number. Dropping the ending
    is a grammar fix the sentence may not bear (`informations are`), and the spelling gold
    files it under grammar (FCE's countability codes): on its tuning half, 24 of the 28 such
    fixes counted as false, 3 as right (`nuclears`, `ands`). Left as written, reported
    unknown."""
    return written in (corrected + "s", corrected + "es")


def _context(text: str, parts: Sequence[WordPart], k: int) -> Context:
    """The neighbours of the k-th part: the words next to it in its sentence with only spaces
    between (not across punctuation, a number or a hyphen)."""
    part = parts[k]
    previous = following = ""
    if k and not part.sentence_start:
        before = parts[k - 1]
        if text[before.end : part.start].isspace():
            previous = normalize_word(before.text)
    if k + 1 < len(parts):
        after = parts[k + 1]
        if not after.sentence_start and text[part.end : after.start].isspace():
            following = normalize_word(after.text)
    return Context(previous, following)


def _usual_apostrophe(text: str, parts: Iterable[WordPart]) -> str:
    """The apostrophe this writer uses most inside words (´ in `I´ve`, ` in `didn`t`); a text
    with none inside a word uses the curly one if it has more of those than straight ones."""
    if not any(mark in text for mark in APOSTROPHES[1:]):
        return "'"  # most texts: straight apostrophes only, if any
    counts = dict.fromkeys(APOSTROPHES, 0)
    for part in parts:
        mark = _apostrophe_in(part.text)
        if mark is not None:
            counts[mark] += 1
    usual = max(counts, key=counts.__getitem__)
    if counts[usual]:
        return usual
    return CURLY_APOSTROPHE if text.count(CURLY_APOSTROPHE) > text.count("'") else "'"


def _written_like(original: str, corrected: str, apostrophe: str) -> str:
    """`corrected` with the case and apostrophe style of the word it replaces: its own
    apostrophe if it has one, else the one the writer uses most."""
    apostrophe = _apostrophe_in(original) or apostrophe
    if apostrophe != "'":
        corrected = corrected.replace("'", apostrophe)
    if len(original) > 1 and original.isupper():
        return corrected.upper()
    if original[:1].isupper():
        return corrected[:1].upper() + corrected[1:]
    return corrected
