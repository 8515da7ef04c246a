"""Hit guards: may the answer cached for prompt A be served for prompt B?

Each rule returns the reason it refused, so a miss can be explained in a debug line and the
eval can count which rule did the work. The rules are symmetric.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from functools import lru_cache
from itertools import pairwise

from chatroute.cache.text import (
    ALTERNATIVES,
    ANTONYMS,
    AUXILIARIES,
    NEGATING_PREFIXES,
    NOT_NEGATED,
    OPPOSITES,
    QUESTION_WORDS,
    STOPWORDS,
    UNITS,
    Features,
    features,
    stem,
    words_of_prose,
)

# A place name and its adjective or people name the same thing ("Russia's election" / "the
# Russian election"): a capitalised word counts as present when the other side has it with one
# of these endings added. Endings only, never a shared stem: "India" is not "Indiana".
_DEMONYM_ENDINGS = ("n", "an", "ian", "ese", "i", "ish", "istan")
# Headline Case capitalises most words, so capitals stop marking names: when at least this
# share of a prompt's topic words are capitalised, its capitals are not read as names (the
# other prompt's names must still all appear in it).
_TITLE_CASE_SHARE = 0.75
_TITLE_CASE_MIN_WORDS = 4  # "Is Iran bigger than Iraq?" is two names, not a headline
_MAX_SPELLED = 8
_LINK_WORDS = frozenset({"of", "and", "the", "for", "de", "on"})
_ALPHA_WORD = re.compile(r"[^\W\d_](?:[^\W_]|['’-](?=[^\W\d_]))*")  # "Brazil's", "Pop-Star": one word

# A quoted span counts as said by the other side when it has these words in this order; code
# (these characters, or a leading dash: an option) and long quotations must match as written.
_CODE_CHARS = re.compile(r"[{}\[\]()<>=+*/&|^~;\\#@_$.:]")
_MAX_LITERAL_WORDS = 8

# Reorderings are checked over the first few topic words only; long prompts are rarely
# re-asked with the roles swapped, and the check is cubic.
_MAX_ORDER_ITEMS = 24


def _facts_differ(a: Features, b: Features) -> str | None:
    """The checks both rule sets start with: time-sensitive wording, no topic words ("why?",
    "go on": meaning lives in the history, which the exact tier covers), and any difference in
    numbers, units, negation, quoted text or code symbols."""
    if a.time_sensitive or b.time_sensitive:
        return "time-sensitive"
    if not a.content or not b.content:
        return "no topic words"
    if a.numbers != b.numbers and not _ones_spelled_out(a, b):
        return "numbers differ"
    if a.units != b.units:
        return "units differ"
    if bool(a.negations) != bool(b.negations):
        return "negation differs"  # one side negated, the other not ("No, don't" is one negation)
    if a.literals != b.literals and (_literal_unsaid(a, b) or _literal_unsaid(b, a)):
        return "quoted text or code differs"
    if a.symbols != b.symbols:
        return "code symbols differ"
    return None


def _ones_spelled_out(a: Features, b: Features) -> bool:
    """The numbers differ only by 1s that the other side writes as "one" in the same place
    ("season 1" / "season one"). "one" alone is no number (mostly a pronoun), so only a "one"
    with the same word before or after it as the 1 stands for it."""
    extra_a, extra_b = Counter(a.numbers) - Counter(b.numbers), Counter(b.numbers) - Counter(a.numbers)
    if set(extra_a) | set(extra_b) != {"1"}:
        return False
    return (_spelled_ones(a.tokens, b.tokens) >= extra_a["1"]
            and _spelled_ones(b.tokens, a.tokens) >= extra_b["1"])


def _spelled_ones(digits: list[str], words: list[str]) -> int:
    """How many of `digits`' "1"s have a "one" in `words` between the same two neighbours (either)."""
    def neighbours(tokens: list[str], word: str) -> list[tuple[str, str]]:
        return [(tokens[i - 1] if i else "", tokens[i + 1] if i + 1 < len(tokens) else "")
                for i, t in enumerate(tokens) if t == word]
    ones = neighbours(words, "one")
    found = 0
    for before, after in neighbours(digits, "1"):
        match = next((o for o in ones if (before and o[0] == before) or (after and o[1] == after)), None)
        if match is not None:
            ones.remove(match)
            found += 1
    return found


def _literal_unsaid(a: Features, b: Features) -> bool:
    """A literal of a's that b neither quotes nor says word for word. Quotes around ordinary
    words ("Mandela's 'inspiration'" / "Mandela's inspiration") do not make another question;
    code, command-line options and long quotations must match as written."""
    for lit in set(a.literals) - set(b.literals):
        if lit.startswith("-") or _CODE_CHARS.search(lit):
            return True
        words = features(lit).tokens
        if not words or len(words) > _MAX_LITERAL_WORDS or not _says(b.tokens, words):
            return True
    return False


def _says(tokens: list[str], words: list[str]) -> bool:
    n = len(words)
    return any(tokens[i : i + n] == words for i in range(len(tokens) - n + 1))


def hard_refuse_reason(a: Features, b: Features) -> str | None:
    """The exact facts: None when nothing hard differs, else a short reason.

    Numbers and units, negation, quoted text and code, named entities and explicit time
    references are facts a reader checks letter by letter, so they are rules, not scores.
    Everything softer (wording, order, roles) is the verifier's job.
    """
    reason = _facts_differ(a, b)
    if reason is not None:
        return reason
    tokens_a, tokens_b = set(a.tokens), set(b.tokens)
    opposed = _opposite_words(_singular(tokens_a), _singular(tokens_b))
    if opposed is not None:
        return f"opposite words ({opposed[0]!r} / {opposed[1]!r})"
    swapped = _other_thing(tokens_a, tokens_b) or _one_parent(tokens_a, tokens_b)
    if swapped is not None:
        return f"another thing asked for ({swapped[0]!r} / {swapped[1]!r})"
    for read, reason in _ASKED_READERS:
        apart = _asked_apart(read(a.tokens), read(b.tokens))
        if apart is not None:
            return f"{reason} ({apart})"
    directions = _direction_conflict(a.tokens, b.tokens)
    if directions is not None:
        return f"opposite directions of {directions!r}"
    chained = _relative_of_relative(a.tokens, tokens_b) or _relative_of_relative(b.tokens, tokens_a)
    if chained is not None:
        return f"a relative's relative on one side only ({chained!r})"
    # "What did he say?" / "What did she say?": another person, not another wording.
    gender_a, gender_b = a.persons & {"m", "f"}, b.persons & {"m", "f"}
    if (gender_a - gender_b) and (gender_b - gender_a):
        return "person differs"
    # "Will AI replace programmers?" / "Did AI replace programmers?": a prediction and a record of
    # what happened. Future against present is not a fact ("When is the film coming out?" asks
    # what "When will the film come out?" asks), and "Will" in a name is no tense.
    if {a.tense, b.tense} == {"future", "past"} and not (_will_names(a) or _will_names(b)):
        return "tense differs (future / past)"
    opening = _opening_contrast(a, b)
    if opening is not None:
        return f"opening verb differs ({opening[0]!r} / {opening[1]!r})"
    kinds = _typed_question(a), _typed_question(b)
    if None not in kinds and kinds[0] != kinds[1] and not (a.answer_types & b.answer_types):
        return f"question type differs ({kinds[0]} / {kinds[1]})"
    asked = _asked_apart(_asked_about_a_life(a), _asked_about_a_life(b))
    if asked is not None:
        return f"asks for another fact ({asked})"
    qualifier = (_role_qualifier(a, b) or _role_qualifier(b, a)) if _asks(a) and _asks(b) else None
    if qualifier is not None:
        return f"qualifier on one side only ({qualifier!r})"
    reversed_around = _order_reversed(a, b)
    if reversed_around is not None:
        return f"order reversed around {reversed_around!r}"
    # An acronym one side uses and the other spells out ("USGS" / "US Geological Survey"): the
    # acronym is said, and the words that spell it are not names missing from the other side.
    in_a, in_b = _spelled_both(a, b)
    spelled_a = set().union(*(used for _, _, used in in_a.values()))  # a's words spelling b's acronyms
    spelled_b = set().union(*(used for _, _, used in in_b.values()))
    for side, other, other_tokens, spelled, said in ((a, b, tokens_b, spelled_a, in_b),
                                                     (b, a, tokens_a, spelled_b, in_a)):
        for name in side.acronyms - other.acronyms:
            if name in said or name.lower() in spelled:
                continue
            # "DNS" typed as "dns" is the same name; "US" is not the word "us".
            if name.lower() not in other_tokens or name.lower() in STOPWORDS:
                return "entity differs"
    for side, other, other_tokens, spelled in ((a, b, tokens_b, spelled_a), (b, a, tokens_a, spelled_b)):
        if _title_cased(side):
            # Capitals in Headline Case do not mark names, but one capitalised word put in
            # another's place between the same words does: "Who plays Randall on Mrs Maisel?" /
            # "Who plays Sophie on Mrs Maisel?".
            swapped = _name_put_in_place(side, other)
            if swapped is not None:
                return f"entity {swapped[0]!r} / {swapped[1]!r} differs"
            continue
        for ent in sorted(side.entities):
            if ent in spelled or _given_name_dropped(ent, side, other, other_tokens):
                continue
            if (not _entity_present(ent, other_tokens) and ent.lower() not in other.acronyms_lower
                    and UNITS.get(ent) not in other.units  # "Celsius" said as "°C"
                    and not _present_unaccented(ent, other_tokens)):
                return f"entity {ent!r} missing"
    return None


def _name_put_in_place(side: Features, other: Features) -> tuple[str, str] | None:
    """A capitalised word of `side` that `other` lacks, where `other` has a capitalised word of
    its own, which `side` lacks, between the same two words (or the same word and an end)."""
    ta, tb = side.tokens, other.tokens
    sa, sb = set(ta), set(tb)
    for i, tok in enumerate(ta):
        if tok not in side.entities or _entity_present(tok, sb) or _present_unaccented(tok, sb):
            continue  # "America" / "American", "José" / "Jose": the same name
        before, after = ta[i - 1] if i else None, ta[i + 1] if i + 1 < len(ta) else None
        for j, rival in enumerate(tb):
            if (rival in other.entities and not _entity_present(rival, sa) and not _present_unaccented(rival, sa)
                    and (tb[j - 1] if j else None) == before
                    and (tb[j + 1] if j + 1 < len(tb) else None) == after):
                return tok, rival
    return None


def _present_unaccented(ent: str, tokens: set[str]) -> bool:
    """A name written with its accents on one side and without them on the other ("Lübeck" /
    "Lubeck", "Pétain" / "Petain", "São Paulo" / "Sao Paulo") is one name."""
    plain = fold_accents(ent)
    if plain == ent and all(tok.isascii() for tok in tokens):
        return False
    return _entity_present(plain, {fold_accents(tok) for tok in tokens})


def fold_accents(text: str) -> str:
    """Latin letters without their accents. Only marks on a Latin letter go: the vowel signs of
    Devanagari or the voicing marks of kana are letters of their own scripts, not accents."""
    if text.isascii():
        return text
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and out and out[-1].isascii() and out[-1].isalpha():
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


# What a yes/no question's opening verb asks: "Can I eat raw eggs?" whether it is possible or
# allowed, "Should I eat raw eggs?" whether it is wise; "Is Pluto a planet?" about now, "Was Pluto a
# planet?" about then. Only these two contrasts: "Do I need to …" and "Should I …", or "Will it …"
# and "Is it …", often ask one thing.
_OPENING_SENSES = ({w: "possible" for w in ("can", "could", "may", "might")}
                   | {w: "advisable" for w in ("should", "must", "ought", "shall")}
                   | {w: "present" for w in ("is", "are", "am", "do", "does")}
                   | {w: "past" for w in ("was", "were", "did")})
_OPENING_CONTRASTS = (frozenset({"possible", "advisable"}), frozenset({"present", "past"}))


def _asked_apart(x: set[str], y: set[str]) -> str | None:
    """"x / y" when each question asks for some of these things and they share none (the parts of a
    name, the facts of a life); None when either asks for none or they share one."""
    if x and y and not (x & y):
        return f"{'/'.join(sorted(x))} / {'/'.join(sorted(y))}"
    return None


_DIE = frozenset({"die", "died", "dies", "dying"})
_ASKING_VERBS = frozenset({"is", "was", "are", "were", "did", "does", "do", "will", "would", "can"})


def _asked_about_a_life(f: Features) -> set[str]:
    """Which of an age, a date and a cause of death the question asks for: "how old was he when he
    died?", "what year did he die?" and "what did he die of?" want three answers. Only these three,
    which the question words alone do not tell apart ("what age" and "what year" both open with
    "what"); a question that asks for none of them gives an empty set."""
    t = f.tokens
    asked = set()
    if ("how old" in f.answer_types or (t[:1] == ["age"] and t[1:2] in (["of"], ["at"]))
            or any(w in ("what", "which", "the") and n == "age" for w, n in pairwise(t))):
        asked.add("age")
    if _typed_question(f) == "when":  # the question's own word, not a "when she died" inside it
        asked.add("date")
    # "who did she marry?" against "at what age did she marry?". A "who" that asks ("who was",
    # "whom did", "when and who") counts anywhere, so "When X got married, who was his bride?"
    # asks what "Who did X marry?" asks; a relative "who" ("Paul Newman, who died at 83") does not.
    if _typed_question(f) == "who" or any(w in ("who", "whom") and (n in _ASKING_VERBS or p in ("and", "or"))
                                          for p, w, n in zip(["", *t[:-1]], t, [*t[1:], ""], strict=True)):
        asked.add("person")
    if (any(w in _DIE and n in ("of", "from") for w, n in pairwise(t)) or _says(t, ["cause", "of", "death"])
            or (f.question == "how" and "how old" not in f.answer_types and _DIE & set(t))):
        asked.add("cause of death")
    return asked


def _opening_contrast(a: Features, b: Features) -> tuple[str, str] | None:
    """The two opening verbs, when both prompts open with one and they ask one of the contrasts."""
    if not (a.tokens and b.tokens):
        return None
    senses = frozenset({_OPENING_SENSES.get(a.tokens[0], ""), _OPENING_SENSES.get(b.tokens[0], "")})
    return (a.tokens[0], b.tokens[0]) if senses in _OPENING_CONTRASTS else None


# Questions that open by asking for a person, a time, a place or a reason: asked of the same
# thing, "Who built the Eiffel Tower?" and "When was the Eiffel Tower built?" want other answers.
# "What" and "how" are left to the verifier: "what was the first president" asks "who".
_TYPED_KINDS = frozenset({"who", "when", "where", "why"})
_LEADING_PREPOSITIONS = frozenset("in on at from to for by during".split())


def _typed_question(f: Features) -> str | None:
    """The kind of a question that opens with its question word ("In what year …" too), when
    that kind is who, when, where or why; None otherwise (a "when" mid-sentence is a conjunction)."""
    return f.question if _opens_with_question_word(f.tokens) and f.question in _TYPED_KINDS else None


def _opens_with_question_word(t: list[str]) -> bool:
    return bool(t) and (t[0] in QUESTION_WORDS or (len(t) > 1 and t[0] in _LEADING_PREPOSITIONS
                                                   and t[1] in QUESTION_WORDS))


# "Who is the former CEO of Apple?" asks for another person than "Who is the CEO of Apple?", and
# "Who is Michael Jackson's older son?" for one of the sons "… son?" asks about. In a question
# these words before a role pick someone out; in a description they do not ("Former England great
# Tom Finney dies"), so the rule reads questions only.
_ROLE_QUALIFIERS = frozenset("former ex previous past outgoing incoming future "
                             "older oldest elder eldest younger youngest".split())


def _role_qualifier(a: Features, b: Features) -> str | None:
    """A qualifier `a` puts before a topic word that `b` asks about with no qualifier at all (the
    caller reads questions only)."""
    if any(t in _ROLE_QUALIFIERS for t in b.tokens):
        return None
    topic_b = set(b.content)
    for i, tok in enumerate(a.tokens[:-1]):
        if tok in _ROLE_QUALIFIERS and stem(a.tokens[i + 1]) in topic_b:
            return tok
    return None


def _asks(f: Features) -> bool:
    """f opens as a question: a question word ("In what …" too) or a yes/no question's verb."""
    return _opens_with_question_word(f.tokens) or (bool(f.tokens) and f.tokens[0] in AUXILIARIES)


def _will_names(f: Features) -> bool:
    return any(w in ("will", "shall") for name in f.entities for w in name.split())


# Words that order two things one way only: "a job after college" is not "college after a job",
# "Iran bigger than Iraq" not "Iraq bigger than Iran". (Symmetric ones, "versus", "from … to"
# with "separates", "against", are left to the verifier: there a swap often keeps the question.)
_ORDERING_WORDS = ("after", "before", "than")


def _order_reversed(a: Features, b: Features) -> str | None:
    """The ordering word both sides use, when the first topic word after it on each side is one
    the other side puts before it: the two things trade places around it."""
    for word in _ORDERING_WORDS:
        if word not in a.tokens or word not in b.tokens:
            continue
        before_a, after_a = _around(a, word)
        before_b, after_b = _around(b, word)
        if after_a and after_b and after_a != after_b and after_a in before_b and after_b in before_a:
            return word
    return None


def _around(f: Features, word: str) -> tuple[set[str], str]:
    """The topic stems before the first `word` in f, and the first topic stem after it."""
    i = f.tokens.index(word)
    topic = set(f.content)
    before = {stem(t) for t in f.tokens[:i]} & topic
    after = next((s for s in (stem(t) for t in f.tokens[i + 1 :]) if s in topic), "")
    return before, after


def spell_acronyms(a: Features, b: Features) -> tuple[Features, Features]:
    """The pair as the verifier should read it: where one side spells out an acronym the other
    uses, that side says the acronym instead ("What does the United Nations do?" is read as "What
    does the UN do?"), so the verifier compares the two questions, not two ways of naming one
    thing. Unchanged sides are returned as they are."""
    in_a, in_b = _spelled_both(a, b)
    return _say_acronyms(a, in_a), _say_acronyms(b, in_b)


def _spelled_both(a: Features, b: Features) -> tuple[dict[str, tuple[int, int, frozenset[str]]],
                                                     dict[str, tuple[int, int, frozenset[str]]]]:
    """(b's acronyms that a spells out, a's acronyms that b spells out), each as _spelled_out."""
    return (_spelled_out(frozenset(b.acronyms - a.acronyms), a.text),
            _spelled_out(frozenset(a.acronyms - b.acronyms), b.text))


def _say_acronyms(f: Features, spans: dict[str, tuple[int, int, frozenset[str]]]) -> Features:
    if not spans:
        return f
    text, left = f.text, len(f.text) + 1
    for acr, (start, end, _) in sorted(spans.items(), key=lambda kv: -kv[1][0]):
        if end <= left:  # right to left, skipping an expansion that overlaps one already said
            text, left = text[:start] + acr + text[end:], start
    return features(text)


@lru_cache(maxsize=512)
def _spelled_out(acronyms: frozenset[str], text: str) -> dict[str, tuple[int, int, frozenset[str]]]:
    """Those of `acronyms` that `text` spells out, each with where (character offsets) and the
    lower-cased words that do. Past a few acronyms (a pasted document) none are looked for: each
    one is a scan of the text. Memoised (read it, never change it): the guards and then
    spell_acronyms ask for the same pair."""
    if not acronyms or len(acronyms) > _MAX_SPELLED:
        return {}
    words = list(_ALPHA_WORD.finditer(text))
    found = {acr: _expansion(acr, words) for acr in acronyms}
    return {acr: where for acr, where in found.items() if where is not None}


def _expansion(acr: str, words: list[re.Match[str]]) -> tuple[int, int, frozenset[str]] | None:
    """Where `acr` is spelled out among a text's `words` ("United Nations" for "UN", "US Geological
    Survey" for "USGS", "gross domestic product" for "GDP"): the span's character offsets and its
    words, lower-cased; or None. Link words ("of", "and") may sit between them; single letters do
    not spell ("A and C" is not "AC"), and a two-letter acronym needs capitalised words, since two
    lower-case initials match too much by chance."""
    letters = acr.lower()
    if len(letters) < 2:
        return None
    for i in range(len(words)):
        used: list[str] = []
        k, j, end = 0, i, 0
        while j < len(words) and k < len(letters):
            w = words[j].group(0)
            if used and w.lower() in _LINK_WORDS:
                j += 1
                continue
            if len(w) > 1 and w.isupper() and letters.startswith(w.lower(), k):
                k += len(w)  # an acronym inside the expansion: "US" in "US Geological Survey"
            elif len(w) > 1 and w[0].lower() == letters[k] and (len(letters) > 2 or w[0].isupper()):
                k += 1
            else:
                break
            used.append(w)
            end = words[j].end()
            j += 1
        if k == len(letters) and len(used) >= 2:
            return words[i].start(), end, frozenset(w.lower() for w in used)
    return None


# Words that make another place or thing of the name after them ("South Korea", "New Mexico",
# "Equatorial Guinea"), never a given name.
_NAME_QUALIFIERS = frozenset(
    "north south east west northern southern eastern western central new old upper lower great greater little "
    "saint st san santa los las el la le united equatorial royal holy grand mount mt lake river cape port fort "
    "first second third".split())


def _given_name_dropped(ent: str, side: Features, other: Features, other_tokens: set[str]) -> bool:
    """`ent` is a first name before a surname that `other` names alone ("Donald Trump" / "Trump"):
    the same person by the surname, unless `other` puts another name before it ("Bill Clinton")."""
    if ent in _NAME_QUALIFIERS or not ent.isalpha():
        return False
    tokens = side.tokens
    for i, tok in enumerate(tokens[:-1]):
        surname = tokens[i + 1]
        if tok != ent or surname not in side.entities or surname not in other_tokens:
            continue
        places = [j for j, t in enumerate(other.tokens) if t == surname]
        if all(j == 0 or other.tokens[j - 1] not in other.entities for j in places):
            return True
    return False


def _entity_present(ent: str, tokens: set[str]) -> bool:
    """A name is present as a whole token or, written another way ("Russia's" / "Russian"), with a
    demonym ending. A hyphenated name ("Strauss-Kahn", "US-Russia") is present when each of its
    parts is, as a token or a part of one ("Strauss Kahn", "US-Russian"); a single name needs a
    token of its own, so "pro-Morsi" does not say "Morsi"."""
    if ent in tokens:
        return True
    if "-" in ent:
        parts = tokens | {part for tok in tokens if "-" in tok for part in tok.split("-") if part}
        return all(_single_present(part, parts) for part in ent.split("-") if part)
    return _single_present(ent, tokens)


def _single_present(ent: str, tokens: set[str]) -> bool:
    if ent in tokens:
        return True
    if len(ent) < 4 or not ent.isalpha():
        return False
    return any(ent + end in tokens for end in _DEMONYM_ENDINGS) or any(
        ent.endswith(end) and ent[: -len(end)] in tokens for end in _DEMONYM_ENDINGS if len(ent) - len(end) >= 4
    )


def _title_cased(f: Features) -> bool:
    """Headline Case: most words that are not function words start with a capital, the first
    word included ("Faction Names Bianca Ojukwu APGA National Leader")."""
    # From the prose only: capitals in code say nothing about Headline Case. Nor do acronyms,
    # capitals in any style: counted, "Who was the CEO of Twitter before Musk?" read as a headline
    # and its "Musk" as no name.
    words = [w for w in _ALPHA_WORD.findall(words_of_prose(f.text))
             if w.lower() not in STOPWORDS and not (len(w) > 1 and w.isupper())]
    if len(words) < _TITLE_CASE_MIN_WORDS:
        return False
    return sum(1 for w in words if w[0].isupper()) >= _TITLE_CASE_SHARE * len(words)


def refuse_reason(a: Features, b: Features) -> str | None:
    """The previous hand-written rule set (hard facts + wording heuristics), kept as the
    reference the evaluation compares the verifier against; the cache no longer uses it."""
    reason = _facts_differ(a, b)
    if reason is not None:
        return reason
    if a.acronyms != b.acronyms:
        return "entity differs"
    if a.answer_types != b.answer_types:
        return "question type differs"
    # A contrast, not an absence: "my name"/"your name" refuses, "my kitchen"/"the kitchen" not.
    if (a.persons - b.persons) and (b.persons - a.persons):
        return "person differs"
    if (a.quantifiers - b.quantifiers) and (b.quantifiers - a.quantifiers):
        return "quantifier differs"
    if a.tense != b.tense and (a.tense == "future" or b.tense == "future" or (a.tense and b.tense)):
        return "tense differs"
    tokens_a, tokens_b = set(a.tokens), set(b.tokens)
    for ent in sorted(a.entities):
        if ent not in tokens_b:
            return f"entity {ent!r} missing"
    for ent in sorted(b.entities):
        if ent not in tokens_a:
            return f"entity {ent!r} missing"
    if set(a.content) != set(b.content):
        return "topic words differ"
    if opposite_conflict(a.relational, b.relational):
        return "direction differs"
    if _roles_swapped(a.sequence, b.sequence):
        return "word order swaps roles"
    return None


def _opposite_words(ta: set[str], tb: set[str]) -> tuple[str, str] | None:
    """A word of a's whose opposite b says instead, by the lexicon or by a negating prefix
    ("safe" / "unsafe"); None when either side says both or neither. Sorted, so the reason
    shown does not depend on the hash seed."""
    only_b = sorted(tb - ta)
    if not only_b:
        return None
    for x in sorted(ta - tb):
        opposites = ANTONYMS.get(x, set())
        if opposites & ta:
            continue  # a says both, in some inflection: "born … and when did she die?"
        for y in only_b:
            if (y in opposites and not ANTONYMS.get(y, set()) & tb) or _negates(x, y) or _negates(y, x):
                return x, y
    return None


def _singular(tokens: set[str]) -> set[str]:
    """Plurals (and possessives typed without the apostrophe) of lexicon words as the word:
    "brothers" / "sister" are opposed as "brother" / "sister" are."""
    return {t[:-1] if t not in ANTONYMS and t.endswith("s") and t[:-1] in ANTONYMS else t for t in tokens}


def _other_thing(ta: set[str], tb: set[str]) -> tuple[str, str] | None:
    """A thing a asks for where b asks for another of its kind instead ("book" / "movie"); None
    when either side also names the other's ("books or movies"). Sorted, as _opposite_words."""
    meanings_a = {ALTERNATIVES[t] for t in ta if t in ALTERNATIVES}
    meanings_b = {ALTERNATIVES[t] for t in tb if t in ALTERNATIVES}
    for x in sorted(ta - tb):
        mx = ALTERNATIVES.get(x)
        if mx is None or mx in meanings_b:
            continue
        for y in sorted(tb - ta):
            my = ALTERNATIVES.get(y)
            if my is not None and my[0] == mx[0] and my not in meanings_a:
                return x, y
    return None


_MOTHER = frozenset(w for w, meaning in ALTERNATIVES.items() if meaning == ALTERNATIVES["mother"])
_FATHER = frozenset(w for w, meaning in ALTERNATIVES.items() if meaning == ALTERNATIVES["father"])


def _one_parent(ta: set[str], tb: set[str]) -> tuple[str, str] | None:
    """One side asks for someone's parents, the other for one of them ("who are X's parents?" /
    "who is X's mother?"): half of the answer is another answer. Not when the other side names
    both ("mom and dad") or also says "parents"."""
    for x, y in ((ta, tb), (tb, ta)):
        if "parents" in x and "parents" not in y and not x & (_MOTHER | _FATHER):
            mother, father = sorted(y & _MOTHER), sorted(y & _FATHER)
            if bool(mother) != bool(father):
                one = (mother or father)[0]
                return ("parents", one) if x is ta else (one, "parents")
    return None


# "What is Muhammad Ali's real name?" / "… first name?": parts of a name are different answers. A
# real, birth, full or legal name is one thing (the name someone was given), a stage name another.
_NAME_PARTS = {"first": "first", "given": "first", "christian": "first", "last": "last", "family": "last",
               "middle": "middle", "maiden": "maiden", "stage": "stage", "pen": "stage", "real": "real",
               "birth": "real", "full": "real", "legal": "real", "nick": "nickname"}
_ONE_WORD_NAME_PARTS = {"surname": "last", "nickname": "nickname", "nicknames": "nickname"}


def _name_parts(tokens: list[str]) -> set[str]:
    """The parts of a name a question asks for ("first name", "surname"); empty when it asks for none."""
    parts = {_ONE_WORD_NAME_PARTS[t] for t in tokens if t in _ONE_WORD_NAME_PARTS}
    parts |= {_NAME_PARTS[w] for w, n in pairwise(tokens) if w in _NAME_PARTS and n in ("name", "names")}
    return parts


# "What college did X go to?" / "What high school did X go to?": each level of school has its own
# answer. College and university are one level (American usage says either for the same place).
_SCHOOL_BEFORE = {"high": "high school", "primary": "elementary school",
                  "grade": "elementary school", "middle": "middle school", "grad": "graduate school",
                  "graduate": "graduate school", "law": "graduate school", "medical": "graduate school",
                  "med": "graduate school"}
# "Explain vaccines to a high school student" / "… to a medical student": a level of school names
# the reader as well as the place.
_SCHOOL_NOUNS = frozenset({"school", "schools", "student", "students", "schooler", "schoolers"})
_SCHOOL_WORDS = {"highschool": "high school", "college": "college", "colleges": "college",
                 "university": "college", "universities": "college", "elementary": "elementary school"}


def _school_levels(tokens: list[str]) -> set[str]:
    """The levels of school a prompt names ("high school", "college"); empty when it names none."""
    levels = {_SCHOOL_WORDS[t] for t in tokens if t in _SCHOOL_WORDS}
    levels |= {_SCHOOL_BEFORE[w] for w, n in pairwise(tokens) if w in _SCHOOL_BEFORE and n in _SCHOOL_NOUNS}
    if "junior" in tokens and "high" in tokens:
        levels.add("middle school")
    return levels


# "What city was Diana Ross born in?" / "What hospital …": the kind of place a question asks for
# right after "what" or "which" is the kind of its answer.
_PLACE_KINDS = {"city": "city", "cities": "city", "town": "city", "towns": "city", "village": "city",
                "state": "state", "states": "state", "province": "state", "provinces": "state",
                "country": "country", "countries": "country", "nation": "country", "continent": "continent",
                "continents": "continent", "county": "county", "counties": "county", "hospital": "hospital",
                "region": "region", "island": "island", "neighborhood": "neighborhood",
                "neighbourhood": "neighborhood"}


def _places_asked(tokens: list[str]) -> set[str]:
    """The kinds of place asked for ("what city and state" -> city, state); empty when none. A
    kind followed by a content word is a modifier, not what is asked: "what state bird", "which
    country singer"."""
    kinds: set[str] = set()
    for i, t in enumerate(tokens[:-1]):
        if t not in ("what", "which"):
            continue
        found: set[str] = set()
        j = i + 1
        while j < len(tokens) and tokens[j] in _PLACE_KINDS:
            found.add(_PLACE_KINDS[tokens[j]])
            if j + 2 < len(tokens) and tokens[j + 1] in ("and", "or"):
                j += 2
            else:
                break
        if found and (j + 1 >= len(tokens) or tokens[j + 1] in STOPWORDS):
            kinds |= found
    return kinds


# "Who wrote Hallelujah?" / "Who sang Hallelujah?": whoever did one thing is another answer than
# whoever did another. Only roles that are never said for one another; making things (built,
# designed, created, invented) is left to the verifier, since people say either for one maker.
# Who paid for a thing, who ran it, who set it up and who has it now are four people as often as
# one ("Who funded the Manhattan Project?" / "Who led …?" was served).
_ROLES = {w: role for role, words in {
    "wrote": "wrote write writes written authored penned composed compose composes",
    "directed": "directed direct directs",
    "produced": "produced produce produces",
    "sang": "sang sing sings sung singing",
    "played": "played play plays playing starred stars portrayed portrays voiced voices",
    "won": "won win wins",
    "killed": "killed kill kills assassinated murdered",
    "coached": "coached coach coaches",
    "married": "married marry marries",
    "founded": "founded founds cofounded",
    "owned": "owned own owns",
    "funded": "funded fund funds financed finances bankrolled sponsored sponsors",
    "led": "led lead leads headed heads commanded commands",
}.items() for w in words.split()}


def _roles_asked(tokens: list[str]) -> set[str]:
    """What the person asked for did, from the four words after each "who" ("who wrote", "who
    has coached", "who wrote and sang"); empty when none."""
    return {_ROLES[w] for i, t in enumerate(tokens) if t == "who" for w in tokens[i + 1 : i + 5] if w in _ROLES}


# "Write an essay arguing for school uniforms" / "… against school uniforms" was served: "for" and
# "against" are function words to the embedding. Only after a word that takes a side: "medicine
# for / against a cold" asks one thing.
_STANCE_WORDS = frozenset("argue argues argued arguing argument arguments case vote votes voted voting campaign "
                          "campaigning speech debate debating evidence reasons stance position petition".split())
_SIDES = {"for": "for", "against": "against", "favor": "for", "favour": "for", "supporting": "for",
          "opposing": "against"}


def _sides_taken(tokens: list[str]) -> set[str]:
    """The side a prompt argues ("arguing for", "the case against", "in favour of"); empty when none."""
    sides = {_SIDES[t] for w, t in pairwise(tokens) if w in _STANCE_WORDS and t in _SIDES}
    sides |= {_SIDES[t] for w, t in pairwise(tokens) if w == "in" and t in ("favor", "favour")}
    return sides


# "How do I write a for loop in Bash?" / "… a while loop …" was served: both are function words
# to the embedding. Only before "loop": "for" and "while" alone are everywhere.
_LOOP_KINDS = {"for": "for", "foreach": "for", "while": "while", "until": "until", "do": "do-while"}


def _loops_asked(tokens: list[str]) -> set[str]:
    """The kinds of loop a prompt names ("a for loop", "while loops"); empty when none."""
    return {_LOOP_KINDS[w] for w, n in pairwise(tokens) if w in _LOOP_KINDS and n in ("loop", "loops")}


# "How do I turn off notifications on my iPhone?" / "… turn on …" was served: "on" and "off" are
# function words, and a soft opposite since "set up", "find out" and the like are said either way.
# After a verb that switches something they are the whole question.
_SWITCH_VERBS = frozenset("turn turns turning turned switch switches switching switched power powering powered "
                          "toggle toggles shut shuts shutting".split())
_SWITCH_STATES = {"on": "on", "off": "off", "down": "off", "up": "on"}


def _switched_to(tokens: list[str]) -> set[str]:
    """On or off, for each switching verb ("turn off", "switch the lights on"): the first "on" or
    "off" within three words after it; empty when none. "down" and "up" count after "shut" and
    "power" only ("turn down the music" is not off)."""
    states = set()
    for i, t in enumerate(tokens):
        if t not in _SWITCH_VERBS:
            continue
        for w in tokens[i + 1 : i + 4]:
            if w in ("on", "off") or (w in ("down", "up") and t.startswith(("shut", "power"))):
                states.add(_SWITCH_STATES[w])
                break
    return states


# What each question asks for, read from its tokens: two questions that each ask for some of one
# kind and share none ask for different things (hard_refuse_reason, in this order).
_ASKED_READERS: tuple[tuple[Callable[[list[str]], set[str]], str], ...] = (
    (_name_parts, "another part of a name"),
    (_school_levels, "another level of school"),
    (_places_asked, "asks for another kind of place"),
    (_roles_asked, "asks who did another thing"),
    (_sides_taken, "argues the other side"),
    (_loops_asked, "another kind of loop"),
    (_switched_to, "switches it the other way"),
)


_DIRECTIONS = {"north": "south", "south": "north", "east": "west", "west": "east"}
_PLACE_END = frozenset({"and", "or", "but", "than", "to", "from", "in", "on", "at", "with", "is", "was", "are"})


def _directions_of(tokens: list[str]) -> set[tuple[str, str]]:
    """(direction, place) for each "west of new hampshire" in the prompt: the place is the words
    after "of", up to a joining word."""
    out = set()
    for i, t in enumerate(tokens[:-2]):
        if t in _DIRECTIONS and tokens[i + 1] == "of":
            place: list[str] = []
            for w in tokens[i + 2 : i + 6]:
                if w in _PLACE_END:
                    break
                place.append(w)
            if place:
                out.add((t, " ".join(place)))
    return out


def _direction_conflict(ta: list[str], tb: list[str]) -> str | None:
    """A place one prompt asks what lies west of and the other what lies east of ("west of new
    hampshire and east of new york" / "east of new hampshire and …"). The opposite-words rule
    misses it when a side names both directions, each of another place."""
    da, db = _directions_of(ta), _directions_of(tb)
    for direction, place in sorted(da - db):
        if (_DIRECTIONS[direction], place) in db - da:
            return place
    return None


_OF_GAP = 4  # "the mother of [Frank Lucas's] son": at most this many words between "of" and the relative
# Words for any relative: a side that says "Diana Ross's children's father" may ask what "her
# daughter's father" asks, so a go-between the other side names this way is not missing.
_ANY_RELATIVE = frozenset({"child", "children", "kid", "kids", "parent", "parents", "baby", "babies", "family",
                           "offspring", "sibling", "siblings", "spouse", "spouses", "partner", "partners"})


def _relative_of_relative(tokens: list[str], other: set[str]) -> str | None:
    """A relative named through another ("Frank Lucas's son's mother", "the mother of his son")
    where the other prompt names the same relative of the person themself ("Frank Lucas's mother"):
    two people. Returns the go-between relative ("son"), or None."""
    def family(t: str) -> tuple[str, int] | None:
        meaning = ALTERNATIVES.get(t)
        return meaning if meaning is not None and meaning[0] == "family" else None

    other_meanings = {family(t) for t in other} - {None}
    if other & _ANY_RELATIVE:
        return None
    for i, t in enumerate(tokens):
        head = family(t)
        if head is None or head not in other_meanings:
            continue
        # The go-between stands right before the relative ("son mother", possessives dropped) or
        # after "of" ("mother of frank lucas son").
        candidates = tokens[i - 1 : i] if i else []
        if i + 1 < len(tokens) and tokens[i + 1] == "of":
            candidates = candidates + tokens[i + 2 : i + 3 + _OF_GAP]
        for c in candidates:
            between = family(c)
            if between is not None and between != head and between not in other_meanings:
                return c
    return None


def _negates(word: str, prefixed: str) -> bool:
    return (len(prefixed) > len(word) >= 4 and prefixed.endswith(word) and word.isalpha()
            and prefixed[: len(prefixed) - len(word)] in NEGATING_PREFIXES and prefixed not in NOT_NEGATED)


def opposite_conflict(ra: set[str], rb: set[str]) -> bool:
    """A has x but not its opposite y; B has y but not x ("to Paris" vs "from Paris")."""
    for x in ra - rb:
        for y in OPPOSITES.get(x, ()):
            if y in rb and y not in ra:
                return True
    return False


def _roles_swapped(sa: list[str], sb: list[str]) -> bool:
    """Same words, but two of them trade places around a shared pivot.

    "dog bites man" / "man bites dog", "convert celsius to fahrenheit" / "fahrenheit to
    celsius", "is X faster than Y" / "is Y faster than X". A bag-of-words embedder scores these
    1.0. Moving a whole phrase ("in Python, how do I..." / "how do I ... in Python") keeps every
    pivot on the same side, so it is not flagged.
    """
    pa = _first_positions(sa[:_MAX_ORDER_ITEMS])
    pb = _first_positions(sb[:_MAX_ORDER_ITEMS])
    shared = [w for w in pa if w in pb]
    for i, x in enumerate(shared):
        for y in shared[i + 1 :]:
            if (pa[x] < pa[y]) == (pb[x] < pb[y]):
                continue
            lo_a, hi_a = sorted((pa[x], pa[y]))
            lo_b, hi_b = sorted((pb[x], pb[y]))
            for p in shared:
                if p in (x, y):
                    continue
                if lo_a < pa[p] < hi_a and lo_b < pb[p] < hi_b:
                    return True
    return False


def _first_positions(seq: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, w in enumerate(seq):
        out.setdefault(w, i)
    return out
