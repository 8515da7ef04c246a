"""Lexical features of a prompt, for the cache's hit guards.

The embedder is a bag of words: it cannot see negation, word order, which number was asked
about, or that "TV" and "money" are different things in the same sentence frame. So a semantic
hit is decided mostly here, with plain rules any reader can check: the two prompts must ask
about the same content words (after light normalisation), the same numbers, units, names and
code, with the same polarity, and neither may ask about something that changes over time.

Everything here is pure Python and runs in microseconds on a normal prompt.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

# Function words: they carry the sentence frame, not the topic. Light verbs (get, make, go)
# are NOT here: "what is a mortgage?" and "how do I get a mortgage?" ask different things. Directional words and
# comparatives are NOT here; they are checked for conflicts by `OPPOSITES` below.
STOPWORDS = frozenset(
    """
a an the this that these those some any each every all both either
i me my mine myself we us our ours you your yours yourself it its itself they them their theirs
he him his she her hers one ones someone somebody something anything anyone anybody
is am are was were be been being do does did doing done have has had having
can could may might shall should will would must ought
what which how who whom whose why when where whether if then than so as
of in on at by for with about via per within through across
and or but nor also too very really just actually quite rather much many
there here please pls plz thanks thank hi hello hey ok okay
let lets let's
between among during until since while because like near around behind beside besides
along upon toward towards onto versus vs using
""".split()
)

# Words that frame a request without changing what is asked ("Can you explain how X works?"
# vs "How does X work?"). Kept deliberately short: each entry must be topic-free.
FILLER = frozenset(
    """
explain explanation describe tell show give help know understand want wondering wonder
trying try tried possible able way ways
work works working worked mean means
exactly basically idea ideas question questions
thing things stuff difference differences compare comparison compared
""".split()
)
# "the best/easiest/right way to X" frames "how do I X"; the adjective alone ("best laptop",
# "easy recipe", "short story") changes the request and stays a topic word.
_WAY_PHRASE = re.compile(
    r"\b(?:the |a |an )?(?:best|easiest|simplest|proper|correct|right|recommended|good|cleanest|"
    r"standard|usual|normal)\s+(?:way|ways|method|methods|approach)\b",
    re.IGNORECASE,
)

# Person, quantity and tense live in function words the topic check ignores; each is a class
# that must agree ("my name" vs "your name", "all birds" vs "some birds", "is" vs "was").
_PERSON = {
    "my": "1", "mine": "1", "myself": "1", "our": "1", "ours": "1",
    "your": "2", "yours": "2", "yourself": "2", "yourselves": "2",
    "he": "m", "him": "m", "his": "m", "himself": "m",
    "she": "f", "her": "f", "hers": "f", "herself": "f",
}
_QUANTIFIERS = {
    "all": "all", "every": "all", "each": "all", "always": "all",
    "some": "some", "any": "some", "several": "some", "sometimes": "some",
    "few": "few", "rarely": "few", "seldom": "few", "both": "both", "either": "either",
    "many": "many", "often": "many", "usually": "many", "only": "only", "just": "only",
}
_PAST = frozenset({"was", "were", "did", "had"})
_PRESENT = frozenset({"is", "are", "am", "does", "do", "has", "have"})
_FUTURE = frozenset({"will", "shall", "gonna"})

# Negation and exclusion cues; their count must match.
NEGATIONS = frozenset(
    """
not no never none nothing nobody nowhere neither nor without except excluding
cannot cant dont doesnt didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt
hasnt havent hadnt mustnt neednt aint unless lack lacking
""".split()
)

# Explicit references to the present that make an answer go stale. Ordinary words that only
# sometimes are (price, stock, live, still) are left out: they blocked many true repeats.
# A prompt with any of these never hits (and is never stored).
TIME_WORDS = frozenset(
    """
today tonight tomorrow yesterday now currently presently current latest newest recent recently
nowadays upcoming news headline headlines weather forecast trending
""".split()
)
# Words that name a thing as well as today's state of it: "the weather in Paris" is now, "weather
# and climate" is not; "the news about X" is now, "fake news" and "Fox News" are not; "the stock
# market today" or "… doing" is now, "how does the stock market work?" is not. Each is now only
# where a neighbouring word asks for the current state.
_NOW_AFTER = {
    "weather": frozenset("in at for near like outside here there today tomorrow tonight now this next forecast "
                         "report update".split()),
    "news": frozenset("about on from for in today tonight this".split()),
    "market": frozenset("today now doing down up performing open closed right this tomorrow".split()),
}
_NOW_BEFORE = {"weather": frozenset({"the"}), "news": frozenset("the any latest today breaking top".split()),
               "market": frozenset()}
TIME_PHRASES = re.compile(
    r"\b(this|last|next|past|coming)\s+(morning|afternoon|evening|night|week|weekend|month|"
    r"quarter|year|season|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    r"|\b(right now|at the moment|at present|these days|so far|as of|up to date|up-to-date|"
    r"days? ago|weeks? ago|months? ago|years? ago|this time|what time is it|what day is it|"
    r"exchange rates?|stock prices?|share prices?|breaking news|still (?:alive|living|open|in office|married))\b"
    # The next or the last of an event that recurs is counted from today: "When is the next full
    # moon?" was served its month-old date, "Who won the last election?" the one before.
    r"|\b(?:the|its|their|his|her|our|your)\s+(?:next|last|most recent|upcoming)\s+(?:\w+\s+)?"
    r"(?:elections?|meetings?|full moon|new moon|eclipse|world cup|olympics|olympic games|super bowl|seasons?|"
    r"episodes?|games?|match|matches|races?|tournament|championship|holidays?)\b"
    r"|\bwhen\s+(?:is|are|does|do|will)\s+the\s+next\b",
    re.IGNORECASE,
)

# Question words that fix the type of answer ("who" wants a person, "when" a date).
ANSWER_TYPES = frozenset({"who", "whom", "whose", "when", "where", "why"})
# "What year did …" asks what "When did …" asks: a time word right after "what" or "which" is
# the question's type, not the unit of a quantity ("5 years") and not a topic word.
WHEN_FRAME = frozenset("year years day date month century decade".split())
_BE = frozenset({"is", "are", "was", "were"})
QUESTION_WORDS = frozenset("what how why who whom whose when where which whether".split())
# Openings that ask for a reason without saying "why": "what makes …", "what is the cause of …".
_REASON_VERBS = frozenset("makes made make causes caused cause".split())
_REASON_NOUNS = frozenset("reason reasons cause causes".split())
# "What is the best way to …", "What should I do to …": the words between "what" and "to" that
# make it a "how" question (the best/right way phrase is already cut out, see _WAY_PHRASE).
_HOW_FRAME = frozenset("is are some the a way ways method methods steps should i we do can".split())
# The verbs a yes/no question opens with.
AUXILIARIES = frozenset(
    "is are am was were do does did has have had can could should would will shall may might must".split())
# A yes/no question's opening verb in one form (its person and number follow the subject).
_YES_NO_OPENINGS = {t: "is" for t in ("is", "are", "am", "was", "were")} | {
    t: "does" for t in ("do", "does", "did")} | {t: "has" for t in ("has", "have", "had")}
HOW_TYPES = frozenset(
    {"many", "much", "long", "far", "old", "big", "often", "fast", "tall", "large", "heavy", "deep", "high"}
)

# Pairs whose swap flips the meaning. A conflict is one side having a word and not its
# opposite while the other has the opposite and not the word.
_OPPOSITE_PAIRS = [
    ("to", "from"), ("into", "from"), ("up", "down"), ("before", "after"), ("above", "below"),
    ("over", "under"), ("in", "out"), ("on", "off"), ("for", "against"), ("more", "less"),
    ("more", "fewer"), ("most", "least"), ("max", "min"), ("maximum", "minimum"),
    ("increase", "decrease"), ("add", "remove"), ("import", "export"), ("input", "output"),
    ("upload", "download"), ("encrypt", "decrypt"), ("encode", "decode"), ("push", "pull"),
    ("send", "receive"), ("buy", "sell"), ("enable", "disable"), ("open", "close"),
    ("start", "stop"), ("first", "last"), ("high", "low"), ("higher", "lower"),
    ("best", "worst"), ("better", "worse"), ("true", "false"), ("left", "right"),
    ("inside", "outside"), ("early", "late"), ("earlier", "later"), ("pros", "cons"),
]
OPPOSITES: dict[str, set[str]] = {}
for _a, _b in _OPPOSITE_PAIRS:
    OPPOSITES.setdefault(_a, set()).add(_b)
    OPPOSITES.setdefault(_b, set()).add(_a)

# Direction words are function words: they never count as topic words, only as conflicts.
_FUNCTION_OPPOSITES = frozenset({"to", "from", "into", "up", "down", "in", "out", "on", "off", "over", "under",
                                 "above", "below", "before", "after", "more", "less", "fewer", "most",
                                 "least", "for", "against", "inside", "outside"})

# Opposites a reader checks word for word: one side says x and not y, the other y and not x
# ("stretch before running" / "after running", "faster" / "slower", "safe" / "unsafe"), so
# the two prompts ask for opposite things. The exact-fact guards refuse these outright; the
# OPPOSITES above stay a soft signal for the verifier, since their phrasal uses ("find out",
# "retire from", "set up") appear in true rephrasings. Role nouns are here too ("husband" /
# "wife"): the same question about someone else is another question.
_HARD_FUNCTION_OPPOSITES = frozenset({"before", "after", "above", "below", "inside", "outside",
                                      "more", "less", "fewer", "most", "least"})
_ANTONYM_PAIRS = [
    ("fast", "slow"), ("faster", "slower"), ("fastest", "slowest"), ("quick", "slow"),
    ("quickly", "slowly"), ("quicker", "slower"), ("happy", "sad"), ("hot", "cold"), ("soft", "hard"),
    ("cheap", "expensive"), ("big", "small"), ("bigger", "smaller"), ("biggest", "smallest"),
    ("large", "small"), ("larger", "smaller"), ("largest", "smallest"), ("long", "short"),
    ("longer", "shorter"), ("longest", "shortest"), ("tall", "short"), ("dark", "light"),
    ("heavy", "light"), ("positive", "negative"), ("gain", "lose"), ("win", "lose"), ("win", "loss"),
    ("love", "hate"), ("pass", "fail"), ("accept", "reject"), ("allow", "block"), ("allow", "deny"),
    ("include", "exclude"), ("plus", "minus"), ("north", "south"), ("east", "west"),
    ("success", "failure"), ("rich", "poor"), ("strong", "weak"), ("wet", "dry"), ("full", "empty"),
    ("thick", "thin"), ("wide", "narrow"), ("deep", "shallow"), ("raise", "lower"), ("rise", "fall"),
    ("grow", "shrink"), ("expand", "shrink"), ("attack", "defend"), ("offense", "defense"),
    ("asleep", "awake"), ("arrive", "depart"), ("arrival", "departure"), ("entrance", "exit"),
    ("enter", "exit"), ("inbound", "outbound"), ("incoming", "outgoing"), ("ascending", "descending"),
    ("vertical", "horizontal"), ("maximize", "minimize"), ("overestimate", "underestimate"),
    ("overweight", "underweight"), ("forward", "backward"), ("forwards", "backwards"),
    ("top", "bottom"), ("internal", "external"), ("public", "private"), ("online", "offline"),
    ("uppercase", "lowercase"), ("borrow", "lend"), ("debit", "credit"), ("profit", "loss"),
    ("asset", "liability"), ("supply", "demand"), ("pause", "resume"), ("easy", "difficult"),
    ("easier", "harder"), ("young", "old"), ("younger", "older"), ("good", "bad"), ("same", "different"),
    ("similar", "different"), ("benefits", "risks"), ("safe", "dangerous"), ("day", "night"),
    ("summer", "winter"), ("morning", "evening"), ("past", "future"), ("beginner", "advanced"),
    ("beginners", "experts"), ("men", "women"), ("man", "woman"), ("male", "female"), ("boy", "girl"),
    ("boys", "girls"), ("son", "daughter"), ("husband", "wife"), ("mother", "father"), ("mom", "dad"),
    ("brother", "sister"), ("boyfriend", "girlfriend"), ("zip", "unzip"), ("inflate", "deflate"),
    ("local", "remote"),
    ("eastern", "western"), ("northern", "southern"), ("oldest", "youngest"), ("eldest", "youngest"),
    ("man", "women"), ("men", "woman"), ("king", "queen"), ("prince", "princess"), ("actor", "actress"),
    ("start", "end"), ("started", "ended"), ("begin", "end"), ("began", "ended"), ("born", "died"), ("born", "die"),
    ("birth", "death"), ("marry", "divorce"), ("married", "divorced"), ("marriage", "divorce"),
    # Versions of one work or thing: "the original Spider-Man" is not "the new Spider-Man movie".
    ("original", "new"), ("original", "remake"),
]
# The beginning and the end in any inflection: "when did his career end?" / "when did he start to
# play?" ask for two dates.
_STARTS = ("start", "starts", "started", "starting", "begin", "begins", "began", "begun", "beginning")
_ENDS = ("end", "ends", "ended", "ending", "finish", "finishes", "finished")
_ANTONYM_PAIRS += [(s, e) for s in _STARTS for e in _ENDS]
# So are a marriage and a divorce ("When was she married to him?" / "When did they divorce?"), and
# a birth and a death.
_MARRIES = ("marry", "marries", "married", "marrying", "marriage", "wedding")
_DIVORCES = ("divorce", "divorces", "divorced", "divorcing")
_BIRTHS = ("born", "birthday", "birthplace")  # "birth" alone also names a parent: "birth mother"
_DEATHS = ("die", "dies", "died", "dying", "death", "dead")
_ANTONYM_PAIRS += [(m, d) for m in _MARRIES for d in _DIVORCES] + [(b, d) for b in _BIRTHS for d in _DEATHS]
# How much is asked for is another answer: "Explain recursion briefly" / "… in detail" were served
# one for the other (verifier 0.999), and the user who asked for depth got one line.
# A summary can be long ("summarize it in detail"): only the words that fix the length count.
_BRIEF = ("brief", "briefly", "concise", "concisely", "simply", "simple", "short", "sentence", "nutshell", "tldr",
          "eli5")
_IN_DEPTH = ("detail", "detailed", "depth", "thorough", "thoroughly", "comprehensive", "comprehensively",
             "elaborate", "extensive", "extensively", "lengthy")
_ANTONYM_PAIRS += [(b, d) for b in _BRIEF for d in _IN_DEPTH]
ANTONYMS: dict[str, set[str]] = {}
for _a, _b in _ANTONYM_PAIRS + [
    (x, y) for x, ys in OPPOSITES.items() for y in ys
    if {x, y} <= _HARD_FUNCTION_OPPOSITES or not {x, y} & _FUNCTION_OPPOSITES
]:
    ANTONYMS.setdefault(_a, set()).add(_b)
    ANTONYMS.setdefault(_b, set()).add(_a)
# Things of one kind where asking for one is not asking for another: "recommend a book / a movie
# about World War II" (the verifier served 5 of 112 such media swaps written here, the only kind it
# missed), a row / a column, a cat / a dog, breakfast / dinner. Each inner list is one meaning
# (a movie is a film). Refused on the external pairs that pass the other guards: 0 of 8,084 that
# should hit. Left out on purpose: colours (an Ask Ubuntu "black screen" / "purple screen" pair is
# a user-marked duplicate) and verbs (moving and copying contacts to a new phone read as one
# question to people; the verifier already refuses the verb swaps written here, 180 of 180).
_ALTERNATIVE_GROUPS = {
    "media": [["book", "books"], ["movie", "movies", "film", "films"], ["song", "songs"], ["album", "albums"],
              ["podcast", "podcasts"], ["documentary", "documentaries"], ["poem", "poems"], ["game", "games"],
              # Kinds of text to write: "a product description" / "a product review" was served.
              ["story", "stories"], ["joke", "jokes"], ["essay", "essays"], ["speech", "speeches"],
              ["review", "reviews"], ["description", "descriptions"], ["summary", "summaries"],
              ["tweet", "tweets"], ["slogan", "slogans", "tagline", "taglines"]],
    # "How do I get from London to Paris by train?" / "… by car?" and "How long does it take to
    # drive from LA to San Francisco?" / "… to fly …" were served.
    "transport": [["train", "trains", "rail", "railway"], ["car", "cars", "drive", "driving", "drove"],
                  ["bus", "buses", "coach"], ["plane", "planes", "flight", "flights", "fly", "flying", "flew"],
                  ["ferry", "boat", "ship"], ["bike", "bicycle", "cycling"], ["walk", "walking", "walked"]],
    "table": [["row", "rows"], ["column", "columns"]],
    "animal": [["cat", "cats", "kitten", "kittens"], ["dog", "dogs", "puppy", "puppies"], ["rabbit", "rabbits"],
               ["hamster", "hamsters"], ["horse", "horses"]],
    "meal": [["breakfast"], ["lunch"], ["dinner", "supper"]],
    # The tone asked for: "Write a formal email asking for a raise" / "… a casual email …" and "a
    # motivational quote" / "a funny quote" were served.
    "tone": [["formal", "formally", "professional", "professionally", "polite", "politely"],
             ["casual", "casually", "informal", "informally", "friendly", "playful"],
             ["funny", "humorous", "hilarious", "witty"], ["serious", "seriously"], ["rude", "rudely"],
             ["motivational", "motivating", "inspirational", "inspiring", "uplifting"],
             ["sarcastic", "sarcastically"], ["romantic"]],
    # "Sort a dictionary by value" / "… by key" was served.
    "mapping": [["key", "keys"], ["value", "values"]],
    # What to do with the data a query or script works on: "Write a SQL query to find duplicate
    # emails" / "… to delete duplicate emails" was served. Only verbs that are never said for one
    # another; "get" and "change" are left out, being said for anything. Installing a thing is not
    # updating it: "How do I install Node.js on Ubuntu?" / "… update …" was served. Update and
    # upgrade are one ("pip update / upgrade all packages").
    "data": [["find", "finds", "select", "selects", "search", "count", "counts"],
             ["delete", "deletes", "remove", "removes", "drop", "drops"],
             ["update", "updates", "modify", "modifies", "upgrade", "upgrades"], ["insert", "inserts"],
             ["install", "installs", "installing"]],
    # Handling an exception is not raising one: "How do I handle exceptions in Python?" / "… raise
    # exceptions …" was served.
    "exception": [["handle", "handles", "handling", "catch", "catches", "catching"],
                  ["raise", "raises", "raising", "throw", "throws", "throwing"]],
    # "What is the height of the Shannon?" is not "… the length of the Shannon?"; "how tall" asks the height.
    "dimension": [["height", "heights", "tall", "taller", "tallest"],
                  ["length", "lengths", "long", "longer", "longest"],
                  ["width", "widths", "wide", "wider", "widest"], ["depth", "depths", "deep", "deeper", "deepest"],
                  ["weight", "weights", "heavy", "heavier", "heaviest", "weigh", "weighs"]],
    # Relatives: "what is X's sister called?" is not "what is X's mother called?". The general
    # words (parent, child, kid) are left to the verifier: "help my child" / "help my daughter"
    # with homework is one question, and a STS true duplicate says "child" / "daughter".
    "family": [["mother", "mothers", "mom", "moms", "mum", "mums", "mommy", "mama"],
               ["father", "fathers", "dad", "dads", "daddy", "papa"], ["sister", "sisters"],
               ["brother", "brothers"], ["son", "sons"], ["daughter", "daughters"], ["wife", "wives"],
               ["husband", "husbands"], ["grandmother", "grandmothers", "grandma"],
               ["grandfather", "grandfathers", "grandpa"], ["grandson", "grandsons"],
               ["granddaughter", "granddaughters"], ["uncle", "uncles"], ["aunt", "aunts"],
               ["cousin", "cousins"], ["niece", "nieces"], ["nephew", "nephews"],
               ["girlfriend", "girlfriends"], ["boyfriend", "boyfriends"]],
}
ALTERNATIVES: dict[str, tuple[str, int]] = {
    word: (group, meaning)
    for group, meanings in _ALTERNATIVE_GROUPS.items()
    for meaning, words in enumerate(meanings)
    for word in words
}
# "safe" / "unsafe", "install" / "uninstall", "legal" / "illegal", "advantages" / "disadvantages".
NEGATING_PREFIXES = ("un", "dis", "non", "in", "im", "il", "ir", "de")
# Prefixed words that do not negate the rest: "display" is not "not play", "inflammable" means
# "flammable".
NOT_NEGATED = frozenset({"display", "invaluable", "inflammable", "inhabitable", "unravel", "unloosen"})

NUMBER_WORDS = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90, "hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9,
    "dozen": 12, "half": 0.5, "twice": 2, "double": 2, "triple": 3, "single": 1,
}
# "one" is left out on purpose: it is far more often a pronoun ("which one is faster?").
# Ordinals are numbers too: "the fourth biggest city" is not "the biggest city", and "second"
# is "2nd". "first" is left out, like "one": "when did you first notice" is a manner of speaking.
# "second" after a number is the unit ("a 5 second delay").
ORDINAL_WORDS = {
    "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "sixtieth": 60,
    "seventieth": 70, "eightieth": 80, "ninetieth": 90, "hundredth": 100, "thousandth": 1000,
}
_TENS = frozenset({20, 30, 40, 50, 60, 70, 80, 90})
# "forty-second", "twenty-one": a hyphenated number is read as its words ("forty second").
_NUMBER_PARTS = frozenset(NUMBER_WORDS) | frozenset(ORDINAL_WORDS) | {"one", "first"}
_SCALES = frozenset({100, 1000, 10**6, 10**9})
# Roman numerals as names number things ("World War II", "Henry VIII", "type II diabetes").
# Single letters (i, v, x) are words, and "xi" is a name (Xi Jinping), so they are left out.
ROMAN_NUMERALS = {
    "ii": 2, "iii": 3, "iv": 4, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "xii": 12, "xiii": 13,
    "xiv": 14, "xv": 15, "xvi": 16,
}

# Unit aliases -> one canonical name, so "5 kilometres" and "5 km" agree and "km" vs "miles"
# is visible as a unit change. Ambiguous short forms only count right after a number.
UNITS = {
    "km": "km", "kms": "km", "kilometer": "km", "kilometers": "km", "kilometre": "km", "kilometres": "km",
    "mile": "mile", "miles": "mile", "mi": "mile",
    "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "cm": "cm", "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
    "mm": "mm", "millimeter": "mm", "millimeters": "mm", "millimetre": "mm", "millimetres": "mm",
    "foot": "ft", "feet": "ft", "ft": "ft", "inch": "inch", "inches": "inch",
    "yard": "yard", "yards": "yard",
    "kg": "kg", "kgs": "kg", "kilo": "kg", "kilos": "kg", "kilogram": "kg", "kilograms": "kg",
    "gram": "g", "grams": "g", "gramme": "g", "grammes": "g",
    "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb",
    "oz": "oz", "ounce": "oz", "ounces": "oz", "stone": "stone",
    "liter": "l", "liters": "l", "litre": "l", "litres": "l",
    "ml": "ml", "milliliter": "ml", "milliliters": "ml", "millilitre": "ml", "millilitres": "ml",
    "gallon": "gal", "gallons": "gal", "gal": "gal", "cup": "cup", "cups": "cup",
    "tablespoon": "tbsp", "tablespoons": "tbsp", "tbsp": "tbsp", "teaspoon": "tsp", "teaspoons": "tsp", "tsp": "tsp",
    "celsius": "celsius", "centigrade": "celsius", "fahrenheit": "fahrenheit", "kelvin": "kelvin",
    "mph": "mph", "kph": "kph", "kmh": "kph",
    "second": "s", "seconds": "s", "sec": "s", "secs": "s", "minute": "min", "minutes": "min", "mins": "min",
    "hour": "h", "hours": "h", "hr": "h", "hrs": "h", "day": "day", "days": "day",
    "week": "week", "weeks": "week", "month": "month", "months": "month", "year": "year", "years": "year",
    # A rate said as an adverb is the same rate: "drink a day" / "drink daily" was refused.
    "hourly": "h", "daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annually": "year",
    "byte": "byte", "bytes": "byte", "kb": "kb", "kilobyte": "kb", "kilobytes": "kb",
    "mb": "mb", "megabyte": "mb", "megabytes": "mb", "gb": "gb", "gigabyte": "gb", "gigabytes": "gb",
    "tb": "tb", "terabyte": "tb", "terabytes": "tb",
    "dollar": "usd", "dollars": "usd", "usd": "usd", "$": "usd", "buck": "usd", "bucks": "usd",
    "euro": "eur", "euros": "eur", "eur": "eur", "€": "eur",
    "gbp": "gbp", "£": "gbp", "sterling": "gbp", "yen": "jpy", "jpy": "jpy", "¥": "jpy",
    "percent": "%", "percentage": "%", "%": "%", "°c": "celsius", "°f": "fahrenheit",
    "watt": "w", "watts": "w", "kw": "kw", "kilowatt": "kw", "kilowatts": "kw", "kwh": "kwh",
    "volt": "v", "volts": "v", "amp": "a", "amps": "a", "calorie": "kcal", "calories": "kcal", "kcal": "kcal",
}
# Only a unit when right after a number ("5 in", "3 m", "10 s", "2 h").
SHORT_UNITS = {"in": "inch", "m": "m", "s": "s", "h": "h", "g": "g", "l": "l", "c": "celsius", "f": "fahrenheit",
               "k": "thousand", "min": "min", "d": "day", "t": "t"}

_IRREGULAR = {
    "children": "child", "men": "man", "women": "woman", "people": "person", "mice": "mouse",
    "feet": "foot", "teeth": "tooth", "geese": "goose", "ran": "run", "wrote": "write",
    "written": "write", "bought": "buy", "took": "take", "taken": "take", "gave": "give",
    "went": "go", "better": "better", "best": "best", "data": "data", "indices": "index",
    "matrices": "matrix", "vertices": "vertex", "analyses": "analysis", "criteria": "criterion",
}

_CONTRACTIONS = [
    (re.compile(r"\bcan[’']t\b", re.I), "can not"),
    (re.compile(r"\bwon[’']t\b", re.I), "will not"),
    (re.compile(r"\bshan[’']t\b", re.I), "shall not"),
    (re.compile(r"n[’']t\b", re.I), " not"),
    (re.compile(r"[’']re\b", re.I), " are"),
    (re.compile(r"[’']ve\b", re.I), " have"),
    (re.compile(r"[’']ll\b", re.I), " will"),
    (re.compile(r"[’']d\b", re.I), " would"),
    (re.compile(r"[’']m\b", re.I), " am"),
    (re.compile(r"\b(it|that|what|there|here|who|how|where|when|why|she|he|let)[’']s\b", re.I), r"\1 is"),
    (re.compile(r"[’']s\b"), ""),  # possessive
]

_FENCE = re.compile(r"```.*?(?:```|$)", re.S)
_BACKTICK = re.compile(r"`([^`\n]+)`")
_QUOTED = re.compile(r"\"([^\"\n]{1,200})\"|“([^”\n]{1,200})”|(?<![\w])'([^'\n]{2,200})'(?![\w])")
_CODE_SYMBOLS = re.compile(r"[{}\[\]()<>=+*/&|^~;\\#@]")
# Punctuation that prose uses too, removed before code symbols are read: an aside in brackets
# after a space holding only words ("bus (coach)", "Iran (Islamic Republic of)"; not a call,
# "f(x)", nor "(a + b) * c", where the brackets are the meaning), slashes between words ("A/C",
# "hole/gap", "men/women."; not a path, "/usr/bin" or "src/main.py"), "&" between words and a
# semicolon ending a clause.
_PROSE_ASIDE = re.compile(r"(?:(?<=\s)|^)\(([^\W\d_](?:[^\W\d_]|[' ,.:-])*[^\W\d_.])\)")
_PROSE_SLASH = re.compile(r"(?<![\w/.:~\\-])[A-Za-z]+(?:/[A-Za-z]+)+(?![\w/\\]|\.\w)")
_PROSE_PUNCT = re.compile(r"(?<=\w) & (?=\w)|(?<=[A-Za-z]);(?=\s|$)")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])")
# A currency sign before a number keeps the number whole ("$10,000" was read as "$10" and "000").
_WORD = re.compile(r"[$€£¥]\d+(?:[.,]\d+)*|[A-Za-z_$€£¥%°][\w.\-°]*|\d+[A-Za-z_%°]+\w*|\d+(?:[.,]\d+)*")
_FLAG = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")  # command-line options: code, exact
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# Acronyms that name the same thing: "a US visa" is "a USA visa".
_ACRONYM_ALIASES = {"USA": "US"}


def _acronym(name: str) -> str:
    return _ACRONYM_ALIASES.get(name, name)


# "WW2", "WWII" and "world war2" are how people type World War 2: spelled out, the neighbour search,
# the exact facts and the verifier all read them as the name they stand for.
_WORLD_WAR = re.compile(r"\bww ?(ii|i|2|1)\b", re.IGNORECASE)
_WAR_GLUED = re.compile(r"\b(world war)([12])\b", re.IGNORECASE)


def _norm_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _WAR_GLUED.sub(r"\1 \2", _WORLD_WAR.sub(lambda m: "World War " + m.group(1).upper(), text))
    return text.replace("\r\n", "\n").replace("’", "'").replace("‘", "'").strip()


_ISE = re.compile(r"^(\w{3,}[iy])s(e|es|ed|ing|er|ers|ation|ations)$")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, deterministic stemmer: the same on both sides is all that matters. Memoised:
    a lookup stems the same few thousand words again and again."""
    w = _IRREGULAR.get(word, word)
    if w != word:
        return w
    # British -ise/-yse spellings -> -ize/-yze before suffixes come off (optimising/optimizing).
    w = _ISE.sub(r"\1z\2", w)
    if len(w) > 4 and w.endswith("ies"):
        w = w[:-3] + "y"
    elif len(w) > 4 and w.endswith("sses"):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("es") and w[-3] in "sxz" or w.endswith(("ches", "shes")):
        w = w[:-2]
    elif len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    if len(w) > 5 and w.endswith("ing"):
        w = w[:-3]
    elif len(w) > 4 and w.endswith("ed"):
        w = w[:-2]
    elif len(w) > 5 and w.endswith("ly"):
        w = w[:-2]
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]  # running -> runn -> run, stopped -> stopp -> stop
    if len(w) > 5 and w.endswith("our"):
        w = w[:-3] + "or"  # colour -> color
    if len(w) >= 5 and w.endswith("tre"):
        w = w[:-3] + "ter"  # centre -> center
    if len(w) > 3 and w.endswith("e"):
        w = w[:-1]  # make/making, use/using agree
    return w


def _num_value(tok: str) -> str | None:
    t = tok.replace(",", "")
    try:
        v = float(t)
    except ValueError:
        return None
    return repr(int(v)) if v == int(v) else repr(v)


@dataclass
class Features:
    """Everything the guards compare, computed once per prompt."""

    tokens: list[str]  # lower-cased word tokens, contractions expanded, in order
    content: list[str]  # stems of content words, in order
    content_words: list[str]  # the surface form of each content word (for the embedding)
    numbers: list[str]  # sorted normalised numbers
    units: set[str]
    negations: int
    entities: set[str]  # lower-cased surface forms that must appear in the other prompt
    literals: list[str]  # quoted strings, backtick spans and code blocks, whitespace-normalised
    symbols: str  # code punctuation in order, for code that is not fenced
    answer_types: set[str]
    relational: set[str]  # words from OPPOSITES present
    time_sensitive: bool
    persons: set[str] = field(default_factory=set)  # possessive/object pronoun classes
    quantifiers: set[str] = field(default_factory=set)
    tense: str = ""  # "past" | "future" | "present" | ""
    sequence: list[str] = field(default_factory=list)  # content stems + relational words, in order
    acronyms: set[str] = field(default_factory=set)  # all-caps names as written ("US", not the word "us")
    text: str = ""  # the normalised prompt these were read from (the contextual encoder's input)
    question: str = ""  # the kind of answer asked for (question_word)

    @property
    def acronyms_lower(self) -> set[str]:
        return {x.lower() for x in self.acronyms}

    @property
    def content_text(self) -> str:
        """What the semantic vector is computed from: the topic words without the frame."""
        return " ".join(self.content_words)


def features(text: str) -> Features:
    text = _norm_text(text)
    prose = _FENCE.sub(" ", text)
    literals = _literals(text, prose)
    entities, acronyms = _names(prose, literals)
    low = _WAY_PHRASE.sub(" ", prose.lower())
    if "'" in low:  # _norm_text made every apostrophe this one
        for pat, rep in _CONTRACTIONS:
            low = pat.sub(rep, low)
    tokens = _tokens(low)
    facts = _read_tokens(tokens)
    question = question_word(tokens)
    if question == "why":  # "what makes …", "how come …" ask for a reason too
        facts.answer_types.add("why")
    return Features(
        tokens=tokens,
        content=facts.content,
        content_words=facts.content_words,
        numbers=sorted(facts.numbers),
        units=facts.units,
        negations=facts.negations,
        entities=entities,
        literals=sorted(literals),
        symbols=_code_symbols(text),
        answer_types=facts.answer_types,
        relational=facts.relational,
        time_sensitive=TIME_PHRASES.search(low) is not None or facts.time_words,
        sequence=facts.sequence,
        persons=facts.persons,
        quantifiers=facts.quantifiers,
        acronyms=acronyms,
        tense=facts.tense(),
        text=text,
        question=question,
    )


def _code_symbols(text: str) -> str:
    """Code punctuation in order, without the brackets, slashes and ampersands of prose."""
    text = _PROSE_ASIDE.sub(r" \1 ", text)
    text = _PROSE_SLASH.sub(lambda m: m.group(0).replace("/", " "), text)
    return "".join(_CODE_SYMBOLS.findall(_PROSE_PUNCT.sub(" ", text)))


def _literals(text: str, prose: str) -> list[str]:
    """Code blocks, backtick spans, quoted strings and command-line flags, whitespace-normalised
    (`prose` is `text` without its fenced blocks)."""
    literals: list[str] = []
    for m in _FENCE.finditer(text):
        literals.append(" ".join(m.group(0).strip("`").split()))
    for m in _BACKTICK.finditer(prose):
        literals.append(" ".join(m.group(1).split()))
    for m in _QUOTED.finditer(prose):
        lit = next(g for g in m.groups() if g is not None)
        literals.append(" ".join(lit.lower().split()))
    literals += [m.group(0) for m in _FLAG.finditer(prose)]
    return literals


_DOTTED_LETTERS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")
# A hyphenated name is one name ("Strauss-Kahn", "Ukraine-Russia"), so "pro-Morsi" does not
# supply the name "Morsi" and "Strauss-Kahn" is found in its own lower-cased copy.
_NAME_TOKEN = re.compile(r"(?:[A-Za-z_][\w.]*[\w]|[A-Za-z])(?:-[\w.]*[\w])*")
_CAMEL = re.compile(r"[a-z][A-Z]")
_LETTER_DIGIT = re.compile(r"[A-Za-z]\d|\d[A-Za-z]")
_NUMBER_UNIT = re.compile(r"(\d+(?:[.,]\d+)*)([a-z%°$€£¥]+\w*)")


def _emphasis(low: str) -> bool:
    """A function word or negation written in capitals for stress ("REALLY", "NEVER", "WHAT").
    Three letters or fewer stay names: "US", "WHO" (the organisation), "IT"."""
    return len(low) >= 4 and (low in STOPWORDS or low in FILLER or low in NEGATIONS)


def _names(prose: str, literals: list[str]) -> tuple[set[str], set[str]]:
    """(entities, acronyms). Entities: capitalised words not at a sentence start, and
    identifier-like tokens (snake_case, camelCase, dotted.names, words with digits), also
    those inside literals. Found on the original casing."""
    entities: set[str] = set()
    acronyms: set[str] = set()
    for m in _NAME_TOKEN.finditer(prose):
        tok = m.group(0)
        if tok.islower() and tok.isalpha():
            continue  # most words: no capital, digit, "_", "." or "-", so never a name
        if _DOTTED_LETTERS.fullmatch(tok):
            # "U.S." is the acronym "US"; "e.g." and "i.e." are abbreviations, not names.
            if tok.isupper():
                acronyms.add(_acronym(tok.replace(".", "")))
            continue
        start = m.start()
        if start and prose[start - 1] == "°":
            continue  # "30°C": a unit, not a name
        j = start - 1  # the last character before the token that is not white space
        while j >= 0 and prose[j].isspace():
            j -= 1
        sentence_start = j < 0 or prose[j] in ".?!:" or prose[start - 1] == "\n"
        low = tok.lower()
        is_ident = ("_" in tok or "." in tok.strip(".") or _CAMEL.search(tok) is not None
                    or _LETTER_DIGIT.search(tok) is not None)
        if tok.isupper() and _emphasis(low):
            continue  # "a REALLY stuck screw": a word in capitals for stress, not a name
        if low in ROMAN_NUMERALS and tok.isupper():
            continue  # "World War II": a number (ROMAN_NUMERALS), not an acronym
        is_acronym = len(tok) >= 2 and tok.isupper()
        is_proper = ((tok[0].isupper() and not sentence_start and low not in STOPWORDS and low != "i")
                     or any(part[:1].isupper() for part in tok.split("-")[1:]))  # "pro-Morsi"
        if is_acronym and not is_ident:
            # Kept as written: lower-cased, "US" would match the pronoun "us".
            acronyms.add(_acronym(tok.strip(".")))
        elif is_ident or is_proper:
            entities.add(low.strip("."))
    for lit in literals:
        for ident in _IDENT.findall(lit):
            if len(ident) > 1:
                entities.add(ident.lower())
    return entities, acronyms


def _tokens(low: str) -> list[str]:
    """Word tokens of lower-cased prose, with a number split from a unit or currency symbol
    stuck to it."""
    tokens: list[str] = []
    for tok in _WORD.findall(low):
        tok = tok.strip(".-")
        if not tok:
            continue
        joined = _NUMBER_UNIT.fullmatch(tok)
        if tok == "1st":
            tokens.append("first")  # read as the word: "first" is not a number (ORDINAL_WORDS)
        elif joined:  # "5km", "10%", "3x"
            tokens.extend([joined.group(1), joined.group(2)])
        elif tok[0] in "$€£¥" and len(tok) > 1:
            tokens.extend([tok[0], tok[1:]])
        elif "-" in tok and all(part in _NUMBER_PARTS for part in tok.split("-")):
            tokens.extend(tok.split("-"))
        else:
            tokens.append(tok)
    # Currency symbols and % that stuck to nothing word-like.
    for sym in "$€£¥%":
        if sym in low and sym not in tokens:
            tokens.append(sym)
    return tokens


@dataclass
class _TokenFacts:
    """What one pass over a prompt's tokens finds (see _read_tokens)."""

    content: list[str] = field(default_factory=list)
    content_words: list[str] = field(default_factory=list)
    sequence: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    units: set[str] = field(default_factory=set)
    negations: int = 0
    answer_types: set[str] = field(default_factory=set)
    relational: set[str] = field(default_factory=set)
    persons: set[str] = field(default_factory=set)
    quantifiers: set[str] = field(default_factory=set)
    tenses: set[str] = field(default_factory=set)
    time_words: bool = False

    def tense(self) -> str:
        tenses = self.tenses
        if "future" in tenses:
            return "future"
        if "past" in tenses and "present" not in tenses:
            return "past"
        if "present" in tenses and "past" not in tenses:
            return "present"
        return ""


def _read_tokens(tokens: list[str]) -> _TokenFacts:
    facts = _TokenFacts()
    prev_number = False
    prev_tens = False  # the last token was "twenty" … "ninety": "forty fifth" is 45, not 40 and 5
    for i, tok in enumerate(tokens):
        _note_grammar(facts, tokens, i)
        value = _num_value(tok) if tok[0].isdigit() else None
        word_value = NUMBER_WORDS.get(tok, ROMAN_NUMERALS.get(tok))
        if tok == "i" and _first_of_a_line(tokens, i):
            word_value = 1
        if word_value is None and tok in ORDINAL_WORDS and not (tok == "second" and prev_number and not prev_tens):
            word_value = ORDINAL_WORDS[tok]
        if word_value is None and prev_tens and tok in ("one", "first"):
            word_value = 1  # "twenty one", "twenty-first": 21 ("one" alone is a pronoun)
        if value is not None:
            facts.numbers.append(value)
            facts.sequence.append("num:" + value)
            prev_number, prev_tens = True, False
        elif word_value is not None:
            if prev_tens and 1 <= word_value <= 9:
                facts.numbers[-1] = repr(int(facts.numbers[-1]) + int(word_value))
                prev_tens = False
            elif prev_number and word_value in _SCALES and facts.numbers:
                # "ten thousand", "10 thousand" and "$1 million" are one number, as "10,000" is.
                facts.numbers[-1] = _num_value(repr(float(facts.numbers[-1]) * word_value)) or facts.numbers[-1]
                prev_tens = False
            else:
                facts.numbers.append(repr(word_value) if word_value != 0.5 else "0.5")
                prev_tens = word_value in _TENS
            prev_number = True
        elif prev_number and tok in SHORT_UNITS:
            facts.units.add(SHORT_UNITS[tok])
            prev_number = prev_tens = False
        else:
            prev_number = prev_tens = False
            _note_word(facts, tokens, i)
    return facts


# "I" is a number only where it can be nothing else: "World War I" and a ruler's name after a title
# ("King Charles I", "Queen Elizabeth I"), so they are the same question as "World War 1".
_RULER_TITLES = frozenset("king queen emperor empress pope tsar czar kaiser sultan pharaoh".split())


def _first_of_a_line(tokens: list[str], i: int) -> bool:
    return i > 0 and (tokens[i - 1] == "war" or (i > 1 and tokens[i - 2] in _RULER_TITLES
                                                  and tokens[i - 1] not in STOPWORDS))  # "The King and I"


def _note_grammar(facts: _TokenFacts, tokens: list[str], i: int) -> None:
    """Person, quantifier and tense of token i."""
    tok = tokens[i]
    if tok in _PERSON:
        facts.persons.add(_PERSON[tok])
    if tok in _QUANTIFIERS and not (tok == "many" and i > 0 and tokens[i - 1] == "how"):
        facts.quantifiers.add(_QUANTIFIERS[tok])
    if tok in _PAST:
        facts.tenses.add("past")
    elif tok in _FUTURE:
        facts.tenses.add("future")
    elif tok in _PRESENT:
        facts.tenses.add("present")


# "current" is "now" as an adjective ("the current president") but a flow as a noun: after these
# words, or followed by no topic word ("current and voltage", "the current in a wire").
_FLOW_BEFORE = frozenset("electric electrical alternating direct ac dc ocean rip tidal".split())


def _current_is_a_flow(tokens: list[str], i: int) -> bool:
    if i > 0 and tokens[i - 1] in _FLOW_BEFORE:
        return True
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    return not nxt or (nxt in STOPWORDS and nxt not in ("one", "ones"))  # "the current one" is now


def _names_today(tokens: list[str], i: int) -> bool:
    """Token i ("weather", "news", "market") asks for today's state: a word after it that does
    ("the weather in Paris", "news about X"), or, for "the weather" / "the news", nothing after it
    ("What's the weather?")."""
    word = tokens[i]
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    before = tokens[i - 1] if i > 0 else ""
    if nxt in _NOW_AFTER[word]:
        return True
    return before in _NOW_BEFORE[word] and (not nxt or word == "news" and nxt in STOPWORDS)


# "How do I get the current date in JavaScript?", "today's date in Python", "the current working
# directory in Bash": what code reads at run time, not what the answer says today, so the answer
# keeps. Only where the prompt names a language or tool it runs in.
_RUNTIME_NOW = frozenset("date time datetime timestamp directory dir folder path working url user username "
                         "thread branch locale timezone year month day epoch".split())
_CODE_PLACES = frozenset("python javascript js typescript ts java kotlin swift c cpp csharp go golang rust ruby php "
                         "perl bash shell zsh powershell sql mysql postgres postgresql sqlite excel vba pandas numpy "
                         "node nodejs react angular vue django flask linux unix git dart scala haskell lua matlab "
                         "julia elixir".split())


def _now(tokens: list[str], i: int) -> bool:
    """Token i, a time word or "market", refers to the present."""
    tok = tokens[i]
    if tok in ("current", "today") and tokens[i + 1 : i + 2] and tokens[i + 1] in _RUNTIME_NOW \
            and not _CODE_PLACES.isdisjoint(tokens):
        return False
    if tok == "current":
        return not _current_is_a_flow(tokens, i)
    if tok == "market" and not (i > 0 and tokens[i - 1] == "stock"):
        return False
    return tok not in _NOW_AFTER or _names_today(tokens, i)


def _note_word(facts: _TokenFacts, tokens: list[str], i: int) -> None:
    """Token i when it is not a number: a unit, a negation, a question type, a relational
    word or a content word (function words are dropped)."""
    tok = tokens[i]
    if _asks_when(tokens, i):
        facts.answer_types.add("when")
        return
    if tok in _LABEL_UNITS and _labels_a_number(tokens, i):
        return  # "in the year 2010" asks what "in 2010" asks: the year names the number, measures nothing
    if tok in UNITS:
        facts.units.add(UNITS[tok])
        facts.content.append("unit:" + UNITS[tok])
        facts.sequence.append("unit:" + UNITS[tok])
        facts.content_words.append(tok)
        return
    if tok in NEGATIONS:
        facts.negations += 1
        return
    if tok in TIME_WORDS or tok == "market":
        facts.time_words = facts.time_words or _now(tokens, i)
    if tok in ANSWER_TYPES:
        facts.answer_types.add("who" if tok.startswith("who") else tok)
    if tok == "how" and i + 1 < len(tokens) and tokens[i + 1] in HOW_TYPES:
        facts.answer_types.add("how " + tokens[i + 1])
    if tok in OPPOSITES:
        facts.relational.add(tok)
        facts.sequence.append("rel:" + tok)
        if tok in _FUNCTION_OPPOSITES:
            return
    if tok in STOPWORDS or tok in FILLER:
        return
    if tok in HOW_TYPES and i > 0 and tokens[i - 1] == "how":
        return
    if len(tok) == 1 and not tok.isalnum():
        return
    s = stem(tok)
    facts.content.append(s)
    facts.content_words.append(tok)
    facts.sequence.append(s)


def words_of_prose(text: str) -> str:
    """`text` without its code: fenced blocks and backtick spans."""
    return _BACKTICK.sub(" ", _FENCE.sub(" ", text))


def is_time_sensitive(text: str) -> bool:
    return features(text).time_sensitive


_LABEL_UNITS = frozenset({"year"})


def _labels_a_number(tokens: list[str], i: int) -> bool:
    """Token i, "year", stands right before the calendar year it names: "the year 1816", "the
    year of 1816" (where "5 years" measures, and "year 2 of college" counts)."""
    nxt = tokens[i + 1 : i + 3]
    if nxt[:1] == ["of"]:
        nxt = nxt[1:]
    return bool(nxt) and nxt[0].isdigit() and len(nxt[0]) in (3, 4)


def _asks_when(tokens: list[str], i: int) -> bool:
    """Token i is a time word that asks "when": right after "what" or "which" ("what year did
    …"), after "what was the" ("what was the year when …"), or joined by "and" to one that does
    ("what day and year did …")."""
    if i >= len(tokens) or tokens[i] not in WHEN_FRAME:
        return False
    before = tokens[max(0, i - 3) : i]
    if before[-1:] and before[-1] in ("what", "which"):
        return True
    if len(before) == 3 and before[0] in ("what", "which") and before[1] in _BE and before[2] == "the":
        return True
    return i >= 2 and tokens[i - 1] == "and" and _asks_when(tokens, i - 2)


def question_word(tokens: list[str]) -> str:
    """The kind of answer a prompt asks for, read from its first question word, with the
    openings that ask the same thing in other words folded in: "what year" is "when", "what
    makes" and "how come" are "why", "what is the best way to" is "how", "which" is "what",
    "whom" and "whose" are "who". A prompt with no question word in its first 12 tokens gives
    its first token, a yes/no question's verb in one form ("are" and "was" are "is", "do" and
    "did" are "does", "have" and "had" are "has")."""
    for i, tok in enumerate(tokens[:12]):
        if tok not in QUESTION_WORDS:
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in ("what", "which"):
            if _asks_when(tokens, i + 1) or _asks_when(tokens, i + 3):
                return "when"
            if "to" in tokens[i + 2 : i + 7]:
                between = tokens[i + 1 : tokens.index("to", i + 2)]
                if all(t in _HOW_FRAME for t in between):
                    return "how"
            if nxt in _REASON_VERBS or (nxt in ("is", "are", "was", "were") and tokens[i + 2 : i + 3] == ["the"]
                                        and tokens[i + 3 : i + 4] and tokens[i + 3] in _REASON_NOUNS):
                return "why"
            return "what"
        if tok == "how" and nxt == "come":
            return "why"
        return "who" if tok in ("whom", "whose") else tok
    if not tokens:
        return ""
    # A yes/no question opens with its verb, whose person and number follow the subject: "Is it
    # safe to eat raw eggs?" asks what "Are raw eggs safe to eat?" asks. Modal verbs stay apart
    # ("can I" is not "should I").
    return _YES_NO_OPENINGS.get(tokens[0], tokens[0])
