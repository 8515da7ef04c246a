from __future__ import annotations

import os

import pytest

from chatroute.cache.guards import refuse_reason
from chatroute.cache.text import features
from tests.cache.exact import hard


def reason(a: str, b: str) -> str | None:
    return refuse_reason(features(a), features(b))


@pytest.mark.parametrize("a,b", [
    ("How do I reverse a list in Python?", "What's the way to reverse a Python list?"),
    ("In Python, how do I sort a dict by value?", "How do I sort a dict by value in Python?"),
    ("Why doesn't my code work?", "Why is my code not working?"),
    ("How do I optimise my SQL queries?", "Optimizing SQL queries - how?"),
    ("Convert 3 kilometres to miles", "convert three km to miles"),
    ("Difference between TCP and UDP", "difference between UDP and TCP"),
])
def test_rephrasings_pass(a, b):
    assert reason(a, b) is None


@pytest.mark.parametrize("a,b,why", [
    ("What's the weather like?", "What's the weather like today?", "time-sensitive"),
    ("What is 15% of 80?", "What is 15% of 90?", "numbers differ"),
    ("How heavy is 50 kg?", "How heavy is 50 lbs?", "units differ"),
    ("Can dogs eat grapes?", "Can dogs never eat grapes?", "negation differs"),
    ("What does `map` do?", "What does `filter` do?", "quoted text or code differs"),
    ("Who invented the telephone?", "When was the telephone invented?", "question type differs"),
    ("What is my name?", "What is your name?", "person differs"),
    ("Do all birds fly?", "Do some birds fly?", "quantifier differs"),
    ("Who was the president of France?", "Who is the president of France?", "tense differs"),
    ("What is the capital of France?", "What is the capital of Germany?", "entity 'france' missing"),
    ("Pros of remote work", "Cons of remote work", "topic words differ"),
    ("Is it safe to swim after eating?", "Is it safe to swim before eating?", "direction differs"),
    ("Convert Celsius to Fahrenheit", "Convert Fahrenheit to Celsius", "word order swaps roles"),
    ("x = a < b", "x = a > b", "code symbols differ"),
])
def test_guards_refuse(a, b, why):
    assert reason(a, b) == why


@pytest.mark.parametrize("a,b", [
    # A place and its adjective or people are one name.
    ("Putin claims victory in Russia's presidential election", "Putin wins the disputed Russian presidential election"),
    ("Why did the US invade Afghanistan?", "Why did the US invade the Afghan state?"),
    # Headline Case capitalises every word: its capitals are not names.
    ("Olympics Opening Ceremony A Hit Around Globe", "Opening ceremony of the Olympics a hit around the globe"),
    ("What Is The Capital Of France", "what is the capital of France?"),
    # Its first word and its acronyms count as capitalised too.
    ("Senate Names Maria Lopez NATO Envoy", "Maria Lopez becomes NATO envoy"),
])
def test_names_written_another_way_pass_the_exact_guards(a, b):
    assert hard(a, b) is None


@pytest.mark.parametrize("a,b", [
    ("What is the population of India?", "What is the population of Indiana?"),
    ("What is the capital of Austria?", "What is the capital of Australia?"),
    ("Is Iran bigger than Iraq?", "Is Iraq bigger than Kuwait?"),
    # A Headline Case side does not excuse the other side's name.
    ("How Do I Get A Visa For France", "How do I get a visa for Germany?"),
])
def test_other_names_still_refused(a, b):
    reason = hard(a, b)
    assert reason is not None and "entity" in reason


@pytest.mark.parametrize("a,b", [
    # Both sides in Headline Case, where capitals mark no names: served at verifier 0.98 until
    # stop 49 (the show's title made the question Headline Case).
    ("Who plays Randall on The Marvelous Mrs Maisel?", "Who plays Sophie on The Marvelous Mrs Maisel?"),
    ("Who Directed The Lord Of The Rings Extended Edition?", "Who Directed The Lord Of The Flies Extended Edition?"),
    ("Best Hiking Trails Near Denver Colorado", "Best Hiking Trails Near Boulder Colorado"),
])
def test_one_capitalised_word_put_in_anothers_place_is_another_name(a, b):
    reason = hard(a, b)
    assert reason is not None and "entity" in reason, reason


@pytest.mark.parametrize("a,b", [
    ("What Is The Flora Of North America ID?", "What Is The Flora Of North American ID?"),
    ("Who Is Juan José Ibarretxe?", "Who Is Juan Jose Ibarretxe?"),
    ("Who Plays Randall On The Show?", "Who Plays Randall In The Show?"),
])
def test_headline_case_words_written_another_way_are_no_other_name(a, b):
    reason = hard(a, b)
    assert reason is None or "entity" not in reason, reason


@pytest.mark.parametrize("a,b", [
    # Quotes around ordinary words that the other side says unquoted, in the same order.
    ('What does the word "serendipity" mean?', "What does the word serendipity mean?"),
    ("Why do people call it a 'silent killer'?", "Why do people call it a silent killer?"),
    # One side negated twice, the other once: both are negated.
    ("Why won't my car start? It doesn't even crank.", "My car will not start, why?"),
])
def test_exact_guards_pass_the_same_fact_written_another_way(a, b):
    assert hard(a, b) is None


@pytest.mark.parametrize("a,b,why", [
    ('What does "carpe diem" mean?', 'What does "memento mori" mean?', "quoted text or code differs"),
    ('What does "carpe diem" mean?', "What does diem carpe mean?", "quoted text or code differs"),  # order
    ("What does `os.path.join` do?", "What does os path join do?", "quoted text or code differs"),  # code
    ("Is the fish fresh?", "Is the fish not fresh?", "negation differs"),
])
def test_exact_guards_still_refuse(a, b, why):
    assert hard(a, b) == why


@pytest.mark.parametrize("a,b", [
    # Brackets, slashes, "&" and ";" of prose are not code.
    ("What are the bus (coach) connections from Thessaloniki to Tbilisi?",
     "What are the bus connections from Thessaloniki to Tbilisi?"),
    ("What could be wrong with my A/C unit?", "What could be wrong with my A C unit?"),
    ("How do I fix a hole/gap between the tile and the wall?",
     "How do I fix a hole or gap between the tile and the wall?"),
    ("a difference in equipment/clothing between men/women.", "a difference in equipment clothing between men women"),
    ("How do I wire a separate fan & light switch?", "How do I wire a separate fan and light switch?"),
    ("There are a few things you would need to do;", "There are a few things you would need to do."),
    # A word in capitals for stress is not a name.
    ("What can I do about a rough opening that is REALLY out of square?",
     "What can I do about a rough opening that is out of square?"),
    ("Why does my code NEVER finish?", "Why does my code never finish?"),
])
def test_prose_punctuation_and_emphasis_pass_the_exact_guards(a, b):
    assert hard(a, b) is None


@pytest.mark.parametrize("a,b,why", [
    # Brackets that carry the meaning, calls, paths and operators are still code.
    ("What is (a + b) * c?", "What is a + b * c?", "code symbols differ"),
    ("What does f(x) return?", "What does f x return?", "code symbols differ"),
    ("What is in /usr/bin?", "What is in usr bin?", "code symbols differ"),
    ("Should I open src/main.py?", "Should I open src main.py?", "code symbols differ"),
    ("if (x) { y; }", "if x { y }", "code symbols differ"),
])
def test_code_punctuation_still_refused(a, b, why):
    assert hard(a, b) == why


def test_short_capitals_stay_names():
    # "WHO" the organisation and "US" the country are not stressed function words.
    assert hard("What are the WHO guidelines on salt?", "What are the guidelines on salt?") == "entity differs"
    assert hard("Why did the US leave?", "Why did us leave?") == "entity differs"


@pytest.mark.parametrize("a,b", [
    # A hyphenated name is one name: found in a copy with other casing or framing.
    ("France's Strauss-Kahn charged in vice ring", "france's strauss-kahn charged in vice ring"),
    ("Plane crashes on the Ukraine-Russia border", "Please tell me: plane crashes on the Ukraine-Russia border"),
    ("France welcomes US-Russia deal on Syria", "France welcomes the US-Russian deal on Syria"),
])
def test_hyphenated_names_pass_the_exact_guards(a, b):
    assert hard(a, b) is None


@pytest.mark.parametrize("a,b", [
    # "pro-Morsi" names a side, not Morsi; "pro-Russia protesters" are not any protesters.
    ("Forces block access to Morsi protest camps", "Forces clear pro-Morsi protest camps"),
    ("Why are pro-Russia protesters demanding autonomy?", "Why are protesters demanding autonomy?"),
])
def test_a_name_inside_a_compound_is_not_the_name(a, b):
    reason = hard(a, b)
    assert reason is not None and "entity" in reason


@pytest.mark.parametrize("a,b", [
    # An acronym and its words are one name.
    ("What does the UN do?", "What does the United Nations do?"),
    ("How is GDP measured?", "How is gross domestic product measured?"),
    ("Is the EU bigger than the US?", "Is the European Union bigger than the United States?"),
    ("Where does the USGS publish quake data?", "Where does the US Geological Survey publish quake data?"),
])
def test_acronyms_spelled_out_pass_the_exact_guards(a, b):
    assert hard(a, b) is None


@pytest.mark.parametrize("a,b", [
    ("What does the UN do?", "What does the union do?"),  # two letters: capitalised words only
    ("Is NYC expensive?", "Is New York expensive?"),  # every letter must be spelled
    ("What does NASA do?", "What does the army do?"),
])
def test_acronyms_not_spelled_out_still_refused(a, b):
    assert hard(a, b) == "entity differs"


def test_the_verifier_reads_a_spelled_out_acronym_as_the_acronym():
    from chatroute.cache.guards import spell_acronyms

    cached = features("Where does the USGS publish quake data?")
    new = features("Where does the US Geological Survey publish quake data?")
    said_cached, said_new = spell_acronyms(cached, new)
    assert said_cached is cached
    assert said_new.text == "Where does the USGS publish quake data?"
    # Single letters do not spell an acronym, and nothing changes where nothing is spelled out.
    plain = features("What is A and C?")
    assert spell_acronyms(features("What is AC?"), plain)[1] is plain


@pytest.mark.parametrize("text,timely", [
    # "current" as a flow is physics, not "now"; as an adjective it is still "now".
    ("What is the difference between current and voltage?", False),
    ("How does electric current work?", False),
    ("What is the current in a wire with 2 ohms across 6 volts?", False),
    ("Who is the current president of France?", True),
    ("Can I apply while the current one is still valid?", True),
    ("Who is the vice president of India at present?", True),
    ("Who presently leads the Senate?", True),
    ("Who was present at the signing?", False),
    # Weather, news and the stock market are now only where a neighbouring word asks for today's state.
    ("What's the weather like in Paris?", True),
    ("What's the weather?", True),
    ("What is the difference between weather and climate?", False),
    ("How does weather affect mood?", False),
    ("Any news about the new iPhone?", True),
    ("What's in the news?", True),
    ("What is fake news?", False),
    ("Is Fox News biased?", False),
    ("How is the stock market doing?", True),
    ("How does the stock market work?", False),
    ("Why did the stock market crash in 1929?", False),
    ("How do I stop breaking things?", False),
    ("Any breaking news from Kyiv?", True),
    # What code reads at run time is no answer that goes stale: these were never cached.
    ("How do I get the current date in JavaScript?", False),
    ("How to get today's date in JavaScript?", False),
    ("How do I get the current working directory in Python?", False),
    ("What is the current date?", True),
    ("What is the current time in Tokyo?", True),
    ("What is the current Python version?", True),
])
def test_current_means_now_only_as_an_adjective(text, timely):
    assert features(text).time_sensitive is timely


def test_capitalised_code_does_not_make_a_prompt_headline_case():
    # Were the code's capitals counted, the prose's name would be excused as Headline Case.
    assert hard("Why does `MyClass FooBar BazQux Zed` fail on Windows?",
                "Why does `MyClass FooBar BazQux Zed` fail on Linux?") == "entity 'windows' missing"


def test_the_missing_name_reported_does_not_depend_on_the_hash_seed() -> None:
    """The miss reason (shown in a debug line and the turn's cache detail) names one missing name;
    with three missing it named whichever a set yielded first, which changed from run to run."""
    import subprocess
    import sys

    code = ("from chatroute.cache.guards import hard_refuse_reason, refuse_reason\n"
            "from chatroute.cache.text import features\n"
            "a = features('Flights from Paris to Berlin via Madrid on Lufthansa?')\n"
            "b = features('Flights from the capital to the city via the hub on the airline?')\n"
            "print(hard_refuse_reason(a, b), refuse_reason(a, b))\n")
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in range(1, 6)}
    assert seen == {"entity 'berlin' missing entity 'berlin' missing\n"}


@pytest.mark.parametrize("a,b,why", [
    # A person named by the surname alone is the same person ...
    ("Is Donald Trump a good president?", "Is Trump a good president?", None),
    ("Why did Hillary Clinton lose the election?", "Why did Clinton lose the election?", None),
    # ... unless the other side names another one, or the word makes another place.
    ("Why did Hillary Clinton lose the election?", "Why did Bill Clinton lose the election?",
     "entity 'hillary' missing"),
    ("Who is Elon Musk's wife?", "Who is Kimbal Musk's wife?", "entity 'elon' missing"),
    ("What is the capital of South Korea?", "What is the capital of Korea?", "entity 'south' missing"),
    ("Where is Equatorial Guinea on a map?", "Where is Guinea on a map?", "entity 'equatorial' missing"),
])
def test_a_first_name_dropped_before_the_same_surname_is_the_same_person(a: str, b: str, why: str | None) -> None:
    assert hard(a, b) == why
    assert (hard(b, a) is None) is (why is None)  # the other way round it names b's first name


def test_usa_and_us_are_one_acronym() -> None:
    assert hard("How can I get a US visa?", "How can I get a USA visa?") is None
    assert hard("How can I get a U.S.A. visa?", "How can I get a U.S. visa?") is None
    assert hard("How can I get a USA visa?", "How can I get a UK visa?") == "entity differs"
