"""Opposite wording is an exact fact: a prompt that says the opposite of a cached one ("before" /
"after", "safe" / "unsafe", "he" / "she") asks another question, however alike the rest is."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import eval_cache
from tests.cache.exact import hard

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "cache_opposites.jsonl"


def served(fixture: Path, n: int) -> list[str]:
    """The new prompts of `fixture`'s n pairs that the real cache (embedder, guards, verifier) serves."""
    pairs = eval_cache.load_pairs(fixture)
    assert len(pairs) == n
    return [o.pair["new"]["prompt"] for o in eval_cache.run(pairs, eval_cache.DEFAULT_THRESHOLD) if o.hit]


def test_opposite_wording_is_never_served_from_the_cache() -> None:
    # 10 of these 16 pairs were served before the rule.
    assert served(FIXTURE, 16) == []


@pytest.mark.parametrize("a,b,why", [
    ("Is it better to stretch before running?", "Is it better to stretch after running?",
     "opposite words ('before' / 'after')"),
    ("How do I make my code run faster?", "How do I make my code run slower?", "opposite words ('faster' / 'slower')"),
    ("Is it safe to drink tap water?", "Is it unsafe to drink tap water?", "opposite words ('safe' / 'unsafe')"),
    ("How do I uninstall Docker?", "How do I install Docker?", "opposite words ('uninstall' / 'install')"),
    ("Is it legal to record a call?", "Is it illegal to record a call?", "opposite words ('legal' / 'illegal')"),
    ("Write a poem for my husband.", "Write a poem for my wife.", "opposite words ('husband' / 'wife')"),
    ("What did he say about the budget?", "What did she say about the budget?", "person differs"),
    ("Who played Peter Parker in the original Spider-Man?", "Who plays Peter Parker in the new Spider-Man movie?",
     "opposite words ('original' / 'new')"),
    ("When did his football career end?", "When did he start to play football?", "opposite words ('end' / 'start')"),
    ("Who directed the remake of Psycho?", "Who directed the original Psycho?",
     "opposite words ('remake' / 'original')"),
])
def test_opposites_are_refused_by_the_exact_guards(a: str, b: str, why: str) -> None:
    assert hard(a, b) == why
    assert hard(b, a) is not None


@pytest.mark.parametrize("a,b", [
    # Both sides say both words: the same question.
    ("Should I stretch before or after running?", "Is stretching better before running or after?"),
    ("How do I install and uninstall packages with pip?", "How can I install or uninstall a pip package?"),
    # Phrasal uses of direction words stay the verifier's call ("retire from" / "to retire").
    ("How do I find out my IP address?", "How do I find my IP address in the terminal?"),
    # A prefix that does not negate.
    ("How do I display a video on a second monitor?", "How do I play a video on a second monitor?"),
    # One side names a person, the other does not: an elaboration, not another person.
    ("How do I help my son with homework?", "How do I help my son with his homework?"),
])
def test_the_same_question_passes_the_exact_guards(a: str, b: str) -> None:
    assert hard(a, b) is None


ALTERNATIVES_FIXTURE = ROOT / "tests" / "data" / "cache_alternatives.jsonl"


def test_another_thing_of_the_same_kind_is_never_served() -> None:
    # "Recommend a book / a movie about World War II." was served before the rule (similarity
    # 0.92); the verifier refused the other 13 already.
    assert served(ALTERNATIVES_FIXTURE, 14) == []


@pytest.mark.parametrize("a,b,why", [
    ("Recommend a book about World War II.", "Recommend a movie about World War II.",
     "another thing asked for ('book' / 'movie')"),
    ("Recommend an album about World War II.", "Recommend a game about World War II.",
     "another thing asked for ('album' / 'game')"),
    ("How do I hide a row in Google Sheets?", "How do I hide a column in Google Sheets?",
     "another thing asked for ('row' / 'column')"),
    ("What should I feed my cat?", "What should I feed my dog?", "another thing asked for ('cat' / 'dog')"),
    ("Give me ideas for a quick healthy breakfast.", "Give me ideas for a quick healthy dinner.",
     "another thing asked for ('breakfast' / 'dinner')"),
])
def test_another_thing_of_the_same_kind_is_refused_by_the_exact_guards(a: str, b: str, why: str) -> None:
    assert hard(a, b) == why
    assert hard(b, a) is not None


@pytest.mark.parametrize("a,b", [
    ("Recommend a film about World War II.", "Recommend a movie about World War II."),  # one meaning
    ("What should I feed my kitten?", "What should I feed my cat?"),
    ("What are the best books or movies about space?", "Which movies about space are best?"),  # says both
    ("Recommend a book about Rome.", "Recommend books about Rome."),
])
def test_the_same_thing_in_other_words_passes(a: str, b: str) -> None:
    assert hard(a, b) is None


FACTOID_FIXTURE = ROOT / "tests" / "data" / "cache_factoid.jsonl"


def test_short_factual_questions_about_another_fact_are_never_served() -> None:
    # Ordinals, relatives and life events in short factual questions, typed as users type them
    # (lower case, "swifts" for "Swift's"): 5 of the first 18 pairs were served before the rules;
    # all 3 that ask for a relative's relative, both that turn one direction of a place around and
    # both that ask for an age or a cause of death against a date, and the one that asks for another
    # part of a name, were served before stop 38's rules.
    assert served(FACTOID_FIXTURE, 26) == []


@pytest.mark.parametrize("a,b,why", [
    ("What is the biggest city in Norway?", "What is the fourth biggest city in Norway?", "numbers differ"),
    ("who was the forty fifth president?", "who was the forty fourth president?", "numbers differ"),
    # Served at stop 42 (a ComQA near-duplicate): a hyphenated number was read as no number at all,
    # and "forty second" as 40 and a unit.
    ("who is the forty-second president of the united states?", "who is the forty-third president of the us?",
     "numbers differ"),
    ("who was the forty second president?", "who was the forty third president?", "numbers differ"),
    ("songs by twenty-one pilots", "songs by twenty-two pilots", "numbers differ"),
    # Served at stop 42 (a ComQA near-duplicate) until levels of school were things of one kind.
    ("what college did dale earnhardt go to?", "what high school did dale earnhardt sr go to?",
     "another level of school (college / high school)"),
    ("Which elementary school did Mae Jemison attend?", "Which high school did Mae Jemison attend?",
     "another level of school (elementary school / high school)"),
    # The verifier refused these at 0.76 and 0.40; whoever did another thing is an exact fact.
    ("Who wrote Hallelujah?", "Who sang Hallelujah?", "asks who did another thing (wrote / sang)"),
    ("Who won the 2010 World Cup?", "Who played in the 2010 World Cup final?",
     "asks who did another thing (won / played)"),
    # Served (verifier 0.945) until paying for a thing, running it, setting it up and having it
    # were roles: four people as often as one.
    ("Who funded the Manhattan Project?", "Who led the Manhattan Project?",
     "asks who did another thing (funded / led)"),
    ("Who founded Microsoft?", "Who owns Microsoft?", "asks who did another thing (founded / owned)"),
    # Served (verifier 0.997 and 0.977) until the tone asked for and what is done with the data
    # were exact facts.
    ("Write a formal email asking for a raise.", "Write a casual email asking for a raise.",
     "another thing asked for ('formal' / 'casual')"),
    ("Write a motivational quote about perseverance.", "Write a funny quote about perseverance.",
     "another thing asked for ('motivational' / 'funny')"),
    ("How do I sort a dictionary by value in Python?", "How do I sort a dictionary by key in Python?",
     "another thing asked for ('value' / 'key')"),
    ("How do I write a for loop in Bash?", "How do I write a while loop in Bash?",
     "another kind of loop (for / while)"),
    # Served (verifier 0.969 and 0.989) until installing / updating and handling / raising were
    # things of one kind.
    ("How do I install Node.js on Ubuntu?", "How do I update Node.js on Ubuntu?",
     "another thing asked for ('install' / 'update')"),
    ("How do I handle exceptions in Python?", "How do I raise exceptions in Python?",
     "another thing asked for ('handle' / 'raise')"),
    ("How often should I water a cactus weekly?", "How often should I water a cactus monthly?", "units differ"),
    # Served (similarity 1.00, verifier 0.985) until switching on or off was an exact fact.
    ("How do I turn off notifications on my iPhone?", "How do I turn on notifications on my iPhone?",
     "switches it the other way (off / on)"),
    ("How do I shut down my PC from the command line?", "How do I power on my PC from the command line?",
     "switches it the other way (off / on)"),
    ("Write a SQL query to find duplicate emails.", "Write a SQL query to delete duplicate emails.",
     "another thing asked for ('find' / 'delete')"),
    # Served (verifier 1.000 and 0.905) until the side argued and the reader's level of school were
    # exact facts.
    ("Write an essay arguing for school uniforms.", "Write an essay arguing against school uniforms.",
     "argues the other side (for / against)"),
    ("Write a speech in favour of a four-day week.", "Write a speech against a four-day week.",
     "argues the other side (for / against)"),
    ("Explain how vaccines work for a high school student.", "Explain how vaccines work for a medical student.",
     "another level of school (high school / graduate school)"),
    ("How long does it take to drive from LA to San Francisco?",
     "How long does it take to fly from LA to San Francisco?",
     "another thing asked for ('drive' / 'fly')"),
    # Served at stop 42 (a ComQA near-duplicate): only "married" / "divorced" was in the lexicon.
    ("when was lisa presley married to michael jackson?", "when did michael jackson and lisa presley divorce?",
     "opposite words ('married' / 'divorce')"),
    ("Where was Tolstoy born?", "Where did Tolstoy die?", "opposite words ('born' / 'die')"),
    # Served at stop 42 (ComQA near-duplicates) until the kind of place asked for was a fact.
    ("what hospital was diana ross born in?", "what city was diana ross born in?",
     "asks for another kind of place (hospital / city)"),
    ("in what state is alabama state university in?", "what city is the university of alabama state in?",
     "asks for another kind of place (state / city)"),
    ("Which country has the largest population?", "Which continent has the largest population?",
     "asks for another kind of place (country / continent)"),
    ("Where did she go to law school?", "Where did she go to university?",
     "another level of school (graduate school / college)"),
    ("what is taylor swifts brothers name?", "what is taylor swifts sister's name?",
     "opposite words ('brother' / 'sister')"),
    ("What was Mozart's father's name?", "What was Mozart's sister's name?",
     "another thing asked for ('father' / 'sister')"),
    ("what is the name of oprahs grandmother?", "what is the name of oprahs aunt?",
     "another thing asked for ('grandmother' / 'aunt')"),
    ("When did the Roman Empire begin?", "When did the Roman Empire end?", "opposite words ('begin' / 'end')"),
    ("Where was Frida Kahlo born?", "Where did Frida Kahlo die?", "opposite words ('born' / 'die')"),
    ("who is elvis presley's mother?", "who is elvis presley's daughter's mother?",
     "a relative's relative on one side only ('daughter')"),
    ("Who is the father of Madonna's son?", "Who is Madonna's father?",
     "a relative's relative on one side only ('son')"),
    # One side names both directions, so "north" / "south" alone is no conflict; of Spain it is.
    ("Which country lies north of Spain and south of England?",
     "Which country lies south of Spain and south of England?", "opposite directions of 'spain'"),
    ("How old was Mozart when he died?", "What year did Mozart die?", "asks for another fact (age / date)"),
    ("What did Jane Austen die of?", "When did Jane Austen die?", "asks for another fact (cause of death / date)"),
    ("age of margot frank when she died?", "how did margot frank die?", "asks for another fact (age / cause of death)"),
    ("What is Bono's real name?", "What is Bono's surname?", "another part of a name (real / last)"),
    ("what was marilyn monroe's birth name?", "what was marilyn monroe's middle name?",
     "another part of a name (real / middle)"),
    # Served at stop 42 (verifier 0.94 and up) until one parent against both was a rule.
    ("who are beyonces parents?", "who is beyonces mother?", "another thing asked for ('parents' / 'mother')"),
    ("Where do Obama's parents live?", "Where does Obama's dad live?", "another thing asked for ('parents' / 'dad')"),
    # Served at stop 42 until a "who" question was read as asking for a person.
    ("what age did yandel get married?", "who did yandel marry?", "asks for another fact (age / person)"),
    # Served at stop 42 until dimensions were things of one kind.
    ("what is the height of the river shannon?", "what is the length of the shannon river?",
     "another thing asked for ('height' / 'length')"),
    ("How tall is the Eiffel Tower?", "How heavy is the Eiffel Tower?", "another thing asked for ('tall' / 'heavy')"),
    ("Who was president when the 15th amendment was ratified?", "What year was the 15th amendment ratified?",
     "asks for another fact (person / date)"),
])
def test_another_fact_is_refused_by_the_exact_guards(a: str, b: str, why: str) -> None:
    assert hard(a, b) == why
    assert hard(b, a) is not None


@pytest.mark.parametrize("a,b", [
    ("What is the second largest country?", "What is the 2nd largest country?"),  # "second" is 2, not seconds
    ("who was the forty fifth president?", "who was the 45th president?"),
    ("who was the forty-second president?", "who was the 42nd president?"),
    ("What happened in the twenty-first century?", "What happened in the 21st century?"),
    ("What college did Obama go to?", "Which university did Obama attend?"),  # one level, two words
    # Both ends on each side, in other inflections: refused before stop 43 ("finish" / "begin").
    ("When did Gordon Clinton start and finish his term as mayor?",
     "When did Gordon Clinton begin and end his term as mayor?"),
    ("Where was Patsy Cline born and how did she die?",
     "What were the place of birth and the manner of death of Patsy Cline?"),
    ("What killed Poe's birth mother?", "What did Poe's mom die from?"),  # "birth mother" is no birth
    ("What city and state was Woodstock in?", "What state was Woodstock held in?"),  # asks both
    ("Who wrote Hallelujah?", "Who composed Hallelujah?"),  # one role, two words
    ("Who played Batman in The Dark Knight?", "Who starred as Batman in The Dark Knight?"),
    ("Who wrote and sang Hallelujah?", "Who sang Hallelujah?"),  # both roles asked on one side
    ("Who led the Allied forces on D-Day?", "Who commanded the Allied forces on D-Day?"),
    ("Who founded Microsoft?", "Who co-founded Microsoft?"),
    ("How do I remove duplicates from a list in Python?", "How do I delete duplicates in a Python list?"),
    ("How do I search for a file in Linux?", "How do I find a file in Linux?"),
    ("Explain photosynthesis to a high school student.", "Explain photosynthesis to a high schooler."),
    ("What medicine works for a cold?", "What medicine works against a cold?"),  # no side taken
    ("How do I write a for loop in Bash?", "What is the syntax of a Bash for loop?"),
    ("How do I turn off my Mac?", "How do I shut down my Mac?"),
    ("How do I update all packages with pip?", "How do I upgrade all pip packages?"),
    ("How much water should I drink a day?", "How much water do I need to drink daily?"),  # was "units differ"
    ("Who won the World Cup in the year 1966?", "Who won the World Cup in 1966?"),  # was "units differ"
    ("How many people live in Lübeck?", "How many people live in Lubeck?"),  # was "entity 'lübeck' missing"
    ("What rank did Philippe Pétain hold?", "What was Philippe Petain's rank?"),
    ("What was the capital of Prussia in the year of 1816?", "In 1816, what was the capital of Prussia?"),
    ("Write a professional email declining a job offer.", "Write a polite email declining a job offer."),
    ("Write a funny toast for my brother's wedding.", "Write a humorous toast for my brother's wedding."),
    ("What state bird does Ohio have?", "Which bird is Ohio's state bird?"),  # "state" modifies "bird"
    ("What country singer wrote Jolene?", "Which singer wrote Jolene?"),
    ("What high school did Obama go to?", "Which highschool did Obama attend?"),
    ("How do I add a 5 second delay in Python?", "How do I add a five second delay in Python?"),
    ("How do I talk to my kids about money?", "How do I talk to my children about money?"),
    ("How do I help my child with fractions?", "How do I help my daughter with fractions?"),
    ("Gift ideas for my mom?", "What should I get my mother as a gift?"),
    ("When did the Beatles start and end?", "When did the Beatles begin and end?"),
    ("Who is Elvis Presley's daughter's mother?", "Who is the mother of Elvis Presley's daughter?"),
    ("who is the father of madonna's kids?", "who is madonna's daughter's father?"),  # "kids" names her too
    ("What lies north of Spain and south of England?", "Which country is south of England and north of Spain?"),
    ("At what age did Mozart die?", "How old was Mozart when he died?"),  # "when" inside is no date
    ("When did Mozart die?", "In what year did Mozart die?"),
    ("What was the cause of death of Mozart?", "What did Mozart die of?"),
    ("What is Bono's real name?", "What was Bono's birth name?"),  # one name, the one he was given
    ("What is Bono's real name?", "What is Bono's name?"),
    ("who are nicki minaj's mom and dad?", "who are the parents of nicki minaj?"),  # both parents named
    ("Who are Obama's parents?", "Who were the parents of Obama?"),
    # An asking "who" anywhere is the same fact.
    ("When Kurt Cobain got married in 1992, who was his bride?", "Who did Kurt Cobain marry in 1992?"),
    ("When and who published Wuthering Heights?", "Who published Wuthering Heights and when?"),
    ("How tall is the Eiffel Tower?", "What is the height of the Eiffel Tower?"),
    ("How long is the Nile?", "What is the length of the Nile river?"),
    ("How deep and wide is Lake Baikal?", "How deep is Lake Baikal and how wide?"),
])
def test_the_same_fact_passes_the_exact_guards(a: str, b: str) -> None:
    assert hard(a, b) is None


ADVICE_FIXTURE = ROOT / "tests" / "data" / "cache_advice.jsonl"


def test_advice_questions_that_differ_in_one_thing_are_never_served() -> None:
    # Everyday requests for advice, written here in the style people ask them, each pair one content
    # word, amount or relation apart ("a week" / "a month", "before" / "after a workout", "delete" /
    # "deactivate"): the guards or the verifier refused all 45 when they were written (stop 40).
    assert served(ADVICE_FIXTURE, 45) == []


def test_only_accents_on_latin_letters_are_folded() -> None:
    """A name typed without its accents is the same name; the marks of other scripts are letters."""
    from chatroute.cache.guards import fold_accents

    assert fold_accents("São Paulo, Kyōto, Pyrénées-Orientales") == "Sao Paulo, Kyoto, Pyrenees-Orientales"
    assert fold_accents("が") == "が" and fold_accents("हिंदी") == "हिंदी"
    assert hard("How many people live in Lübeck?", "How many people live in Lübben?") is not None
