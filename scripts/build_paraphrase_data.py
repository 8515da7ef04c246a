"""Build the cache verifier's training and evaluation pairs from permissively licensed corpora.

    python scripts/build_paraphrase_data.py MIRROR_GIT_DIR [--out .data/paraphrase]

MIRROR_GIT_DIR is a git directory of github.com/brmson/dataset-sts (the SemEval STS files it
redistributes with their licence notes); the files are read at the pinned commit with
`git show`, so the output is reproducible. Nothing is downloaded here and no raw corpus is
committed: only this script, the trained weights and chatroute/cache/data/VERIFIER.md.

Sources (all human-scored 0-5 for "same meaning"; see VERIFIER.md for licences):
  headlines 2013-2016, Stack Exchange answers (2015 answers-forums, 2016 answer-answer),
  2016 post-editing        -> split 80/20 by a hash of the pair into "train" / "test"
  2016 question-question (Stack Exchange questions) -> "leftout": never used for training

Labels: score >= 4 is a hit (same meaning); <= 3 is a miss ("3: roughly equivalent, but some
important information differs" is still another answer). A miss scored 2-3 is a natural
near-duplicate (same topic, other question); below 2 it is unrelated.

Stack Exchange duplicate questions (optional, --se-dups GIT_DIR of the Bogdanova et al. 2015
replication repository, read at a pinned commit): AskUbuntu and Meta Stack Exchange question
titles, user-marked duplicates (hit) and random other questions (unrelated). Mined near-duplicates
(a miss, label by construction): each title's nearest other title by topic-word cosine that no
duplicate link joins to it. Split 80/20 by a hash of the duplicate cluster, so a question never
sits in both parts.

Word-swap pairs are derived from the same sentences, PAWS-style: two content words of one
sentence trade places around a relation word (a miss: roles change), or the two sides of
"A and B" trade places (a hit). They inherit the split of the sentence they came from.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mining import nearest_other  # noqa: E402

COMMIT = "e1d3375"  # brmson/dataset-sts HEAD when built
BASE = "data/sts/semeval-sts"
TRAIN_SOURCES = {
    "headlines-2013": "2013/headlines.test.tsv",
    "headlines-2014": "2014/headlines.test.tsv",
    "headlines-2015": "2015/headlines.test.tsv",
    "headlines-2016": "2016/headlines.test.tsv",
    "se-answers-2015": "2015/answers-forums.test.tsv",
    "se-answers-2016": "2016/answer-answer.test.tsv",
    "postediting-2016": "2016/postediting.test.tsv",
}
LEFTOUT_SOURCES = {"se-questions-2016": "2016/question-question.test.tsv"}

# github.com/nlx-group/Replicating-Bogdanova-et-al.-2015-Duplicate-Question-Detection: the
# validation files of the AskUbuntu and Meta Stack Exchange duplicate sets (the train and test
# files are over the mirror's size limit). CC BY-SA 3.0 (Stack Exchange); see VERIFIER.md.
SE_DUP_COMMIT = "45abfb94be7719a4a990d75538fa3c6e584252d3"  # before the data files were deleted
SE_DUP_SOURCES = {
    "askubuntu-dups": "msrdsdl/data/askubuntu/noclue/val.tsv",
    "meta-se-dups": "msrdsdl/data/meta/noclue/val.tsv",
}
MINED_FLOOR = 0.75  # topic cosine above which a non-duplicate neighbour counts as a near-duplicate

# github.com/google-research-datasets/natural-questions, NQ-open (CC BY-SA 3.0): real search
# questions with their short answers. The train file is over the mirror's size limit, so the
# dev file trains and the EfficientQA dev and test files are reported.
NQ_COMMIT = "fb26a3073b1fe636c97302890a27b491d6530130"
NQ_SOURCES = {
    "train": ["nq_open/NQ-open.dev.jsonl"],
    "nq-test": ["nq_open/NQ-open.efficientqa.dev.1.1.jsonl", "nq_open/NQ-open.efficientqa.test.1.1.jsonl"],
}
NQ_FLOOR = 0.70  # the cache's neighbour floor: a nearer pair reaches the guards and the verifier

_RELATION = frozenset(
    "to from of for than by with in on at over against into onto under after before versus vs beat beats "
    "defeat defeats defeated replace replaces replaced own owns owned".split()
)
_CONJ = frozenset({"and", "or", "&", "versus", "vs", "vs."})
_SKIP = frozenset(
    """a an the this that these those is are was were be been being do does did have has had can could may might
    will would should must i you he she it we they me him her us them my your his its our their what which who
    whom whose why when where how not no and or but if then than so as of to in on at by for with from into about
    there here also just very more most some any all each every other such own same""".split()
)
_TOKEN = re.compile(r"\S+")


def git_show(git_dir: Path, path: str, commit: str = COMMIT) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def se_title(cell: str) -> str:
    """A question's title: the text before its body's first HTML tag, unescaped."""
    return " ".join(html.unescape(cell.split("<", 1)[0]).split())


def se_dup_rows(git_dir: Path) -> list[dict[str, object]]:
    """Rows from the Stack Exchange duplicate sets: duplicates, random non-duplicates and
    mined near-duplicates, split by duplicate cluster."""
    rows: list[dict[str, object]] = []
    for name, rel in SE_DUP_SOURCES.items():
        pairs = []
        for line in git_show(git_dir, rel, SE_DUP_COMMIT).splitlines():
            cols = line.split("\t")
            if len(cols) == 3:
                a, b = se_title(cols[1]), se_title(cols[2])
                if a and b and a.lower() != b.lower():
                    pairs.append((cols[0] == "duplicate", a, b))
        root = _clusters([t for _, a, b in pairs for t in (a, b)], [(a, b) for dup, a, b in pairs if dup])
        split = {t: split_of(r) for t, r in root.items()}
        for dup, a, b in pairs:
            if split[a] != split[b]:
                continue  # an unrelated pair across the split: kept out so no title is in both
            rows.append({"source": name, "split": split[a], "kind": "se-dup" if dup else "se-unrelated",
                         "label": "hit" if dup else "miss", "score": None, "a": a, "b": b})
        for a, b in _mined_near(sorted(root), root):
            if split[a] == split[b]:
                rows.append({"source": name, "split": split[a], "kind": "mined-near", "label": "miss",
                             "score": None, "a": a, "b": b})
    return rows


def _clusters(titles: list[str], links: list[tuple[str, str]]) -> dict[str, str]:
    """Each title's cluster representative, over duplicate links (duplicates of one master are
    duplicates of each other); titles in no link are their own cluster."""
    parent: dict[str, str] = {t: t for t in titles}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {t: find(t) for t in list(parent)}


def _mined_near(titles: list[str], root: dict[str, str]) -> list[tuple[str, str]]:
    """Each title's nearest other-cluster title by topic-word cosine, when >= MINED_FLOOR."""
    out, seen = [], set()
    for i, j, cos in nearest_other(titles, [root[t] for t in titles]):
        key = (min(i, j), max(i, j))
        if cos >= MINED_FLOOR and key not in seen:
            seen.add(key)
            out.append((titles[i], titles[j]))
    return out


def _answer_key(answer: str) -> str:
    """"The Eagles" and "eagles" are one answer."""
    return re.sub(r"^(?:the|a|an) ", "", re.sub(r"\W+", " ", answer.lower()).strip())


def nq_rows(git_dir: Path) -> list[dict[str, object]]:
    """Natural near-duplicate questions from NQ-open: each question's nearest other question of
    its part by topic-word cosine, when it reaches the cache's floor and the two share no answer
    (another question, with another answer). Label by construction, but from the answers."""
    rows: list[dict[str, object]] = []
    for split, paths in NQ_SOURCES.items():
        answers: dict[str, set[str]] = {}
        for path in paths:
            for line in git_show(git_dir, path, NQ_COMMIT).splitlines():
                if line.strip():
                    rec = json.loads(line)
                    answers.setdefault(rec["question"], set()).update(_answer_key(a) for a in rec["answer"])
        texts = sorted(answers)
        seen = set()
        for i, j, cos in nearest_other(texts, texts):
            key = (min(i, j), max(i, j))
            if cos < NQ_FLOOR or key in seen:
                continue
            seen.add(key)
            if answers[texts[i]] and answers[texts[j]] and not answers[texts[i]] & answers[texts[j]]:
                rows.append({"source": "nq-open", "split": split, "kind": "nq-near", "label": "miss",
                             "score": None, "a": texts[i], "b": texts[j]})
    return rows


def comqa_rows(git_dir: Path) -> list[dict[str, object]]:
    """ComQA's pairs (scripts/build_comqa_pairs.py), scored only: split "comqa", never trained."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from build_comqa_pairs import duplicate_pairs, near_pairs, read_clusters

    clusters = read_clusters(git_dir)
    return [{"source": p["source"], "split": "comqa",
             "kind": "comqa-hit" if p["label"] == "hit" else "comqa-near", "label": p["label"], "score": None,
             "a": p["cached"]["prompt"], "b": p["new"]["prompt"]}
            for p in duplicate_pairs(clusters) + near_pairs(clusters)]


def read_tsv(text: str) -> tuple[list[tuple[float, str, str]], list[str]]:
    """Scored pairs and every sentence (scored or not) of one STS file."""
    pairs, sentences = [], []
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) < 3:
            continue
        a, b = cols[1].strip(), cols[2].strip()
        if not a or not b:
            continue
        sentences += [a, b]
        if cols[0].strip():
            try:
                pairs.append((float(cols[0]), a, b))
            except ValueError:
                continue
    return pairs, sentences


def split_of(key: str) -> str:
    return "test" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 5 == 0 else "train"


def _word(tok: str) -> str:
    return tok.strip(".,;:!?\"'()").lower()


def swap_pairs(sentence: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """(label, a, b) word-swap variants of one sentence: at most one miss and one hit."""
    toks = _TOKEN.findall(sentence)
    if not 4 <= len(toks) <= 40:
        return []
    words = [_word(t) for t in toks]
    content = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 3 and w not in _SKIP]
    out: list[tuple[str, str, str]] = []
    bare = [t.strip(".,;:!?\"'()") for t in toks]
    # A miss: "x REL y" / "x REL the y" (roles on either side of a relation word), or two names
    # of one sentence, swapped.
    cands = []
    for ii, i in enumerate(content):
        for j in content[ii + 1 :]:
            if words[i] == words[j] or bare[i][:1].isupper() != bare[j][:1].isupper():
                continue
            between = words[i + 1 : j]
            tight = 1 <= len(between) <= 2 and between[0] in _RELATION and all(
                w in _RELATION or w in ("the", "a", "an") for w in between)
            names = bare[i][:1].isupper() and i > 0 and j - i <= 8 and not all(w in _CONJ for w in between)
            if tight or names:
                cands.append((i, j))
    if cands:
        i, j = rng.choice(cands)
        swapped = list(toks)
        swapped[i], swapped[j] = _carry(toks[i], toks[j]), _carry(toks[j], toks[i])
        out.append(("miss", sentence, " ".join(swapped)))
    # A hit: a bare "x and y" (each side a single word between function words) -> "y and x".
    for k in range(1, len(toks) - 1):
        if words[k] not in ("and", "or") or words[k - 1] == words[k + 1]:
            continue
        x, y = words[k - 1], words[k + 1]
        if not (x.isalpha() and y.isalpha()) or x in _SKIP or y in _SKIP:
            continue
        before_ok = k - 2 < 0 or words[k - 2] in _SKIP or words[k - 2] in _RELATION
        after_ok = k + 2 >= len(words) or words[k + 2] in _SKIP or words[k + 2] in _RELATION \
            or toks[k + 1][-1:] in ".,;:!?"
        if before_ok and after_ok and bare[k - 1][:1].isupper() == bare[k + 1][:1].isupper():
            swapped = list(toks)
            swapped[k - 1], swapped[k + 1] = _carry(toks[k - 1], toks[k + 1]), _carry(toks[k + 1], toks[k - 1])
            out.append(("hit", sentence, " ".join(swapped)))
            break
    return out


_DETS = frozenset({"a", "an", "the", "my", "your", "his", "her", "their", "our", "its"})


def _phrases(words: list[str], toks: list[str]) -> list[tuple[int, int]]:
    """Noun-phrase-like spans [s, e): an optional determiner, one or two content words, and at
    most one attached "relation [determiner] content word" ("a job at Google")."""
    def content(i: int) -> bool:
        return (0 <= i < len(words) and words[i].isalpha() and len(words[i]) >= 3 and words[i] not in _SKIP
                and words[i] not in _RELATION and words[i] not in _CONJ and words[i] not in _DETS)

    def closes(i: int) -> bool:  # punctuation after a word ends its phrase
        return toks[i][-1:] in ".,;:!?\"')"

    spans = []
    for s in range(len(words)):
        if s > 0 and (words[s - 1] in _DETS or (words[s] not in _DETS and content(s - 1) and not closes(s - 1))):
            continue  # a phrase starts whole: with its determiner, else not right after a content word
        i = s + 1 if words[s] in _DETS else s
        if not content(i):
            continue
        e = i + 1
        if content(e) and not closes(i):
            e += 1
        spans.append((s, e))
        k = e
        if k < len(words) - 1 and not closes(e - 1) and words[k] in _RELATION:
            j = k + 2 if words[k + 1] in _DETS else k + 1
            if content(j):
                spans.append((s, j + 2 if content(j + 1) and not closes(j) else j + 1))
    return spans


def phrase_swap_pairs(sentence: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """(label, a, b): two phrases of one sentence trade places, at least one of them longer than a
    word (the word swaps above move single words). Around a relation word: a miss ("a job at
    Google after college" / "college after a job at Google"); around a bare "and"/"or" with
    nothing else attached: a hit."""
    toks = _TOKEN.findall(sentence)
    if not 5 <= len(toks) <= 40:
        return []
    words = [_word(t) for t in toks]
    spans = _phrases(words, toks)
    out: list[tuple[str, str, str]] = []
    for label, joiners in (("miss", _RELATION), ("hit", _CONJ)):
        cands = []
        for s1, e1 in spans:
            for s2, e2 in spans:
                gap = words[e1:s2]
                if s2 <= e1 or not 1 <= len(gap) <= 2 or gap[0] not in joiners or (e1 - s1) + (e2 - s2) < 3:
                    continue
                if any(g not in joiners and g not in _DETS for g in gap) or words[s1:e1] == words[s2:e2]:
                    continue
                if toks[e1 - 1][-1:] in ".,;:!?" or any(t[-1:] in ".,;:!?" for t in toks[s1:e1 - 1] + toks[s2:e2 - 1]):
                    continue
                if label == "hit" and e2 < len(words) and words[e2] not in _RELATION and words[e2] not in _SKIP \
                        and toks[e2 - 1][-1:] not in ".,;:!?":
                    continue  # "x and y" must end there ("x and y z" may bind y to z)
                cands.append((s1, e1, s2, e2))
        if not cands:
            continue
        s1, e1, s2, e2 = rng.choice(cands)
        first, second = list(toks[s2:e2]), list(toks[s1:e1])
        tail = toks[e2 - 1][len(toks[e2 - 1].rstrip(".,;:!?\"')")):]
        first[-1] = first[-1].rstrip(".,;:!?\"')")
        second[-1] = second[-1].rstrip(".,;:!?\"')") + tail
        if s1 == 0:  # the sentence's capital moves with the position, not with the word
            first[0] = first[0][:1].upper() + first[0][1:]
            if words[0] in _DETS:
                second[0] = second[0].lower()
        swapped = toks[:s1] + first + toks[e1:s2] + second + toks[e2:]
        b = " ".join(swapped)
        if b != sentence:
            out.append((label, sentence, b))
    return out


# Question frames: the same noun asked about in another way is another question ("what is" vs
# "how do I get"), the same way in other words is not. Written for this project (not from a
# corpus); the nouns come from the sources' sentences. Nouns used by the test fixture are kept out.
_SAME_FRAMES = [
    ("What is a {n}?", ["What does {n} mean?", "Can you explain what a {n} is?", "Define {n}.", "what's a {n}"]),
    ("How do I get a {n}?", ["How can I obtain a {n}?", "What is the way to get a {n}?", "Ways to get a {n}?"]),
    ("How do I clean a {n}?", ["What is the best way to clean a {n}?", "How should I clean my {n}?"]),
]
_OTHER_FRAMES = [
    "What is a {n}?", "How do I get a {n}?", "Where can I buy a {n}?", "Why is a {n} so expensive?",
    "Who invented the {n}?", "How do I make a {n}?", "How do I get rid of a {n}?", "How do I clean a {n}?",
    "When was the {n} invented?", "Is a {n} worth it?",
]
_PAIR_SAME = [("What is the difference between a {a} and a {b}?", "What is the difference between a {b} and a {a}?"),
              ("{A} versus {b}: which is better?", "{B} versus {a}: which is better?"),
              ("Compare a {a} and a {b}", "Compare a {b} with a {a}")]
_PAIR_OTHER = [("Is a {a} bigger than a {b}?", "Is a {b} bigger than a {a}?"),
               ("Can a {a} replace a {b}?", "Can a {b} replace a {a}?"),
               ("How do I turn a {a} into a {b}?", "How do I turn a {b} into a {a}?")]
_FIXTURE_WORDS = frozenset("mortgage passport crocodile alligator landlord tenant agent screw novel laptop lake pond "
                           "egg eggs stocks plants celsius fahrenheit".split())


def frame_pairs(sentences: list[str], rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(noun, label, a, b) question-frame pairs built around nouns seen after an article."""
    nouns: set[str] = set()
    for s in sentences:
        toks = [_word(t) for t in _TOKEN.findall(s)]
        for k in range(len(toks) - 1):
            n = toks[k + 1]
            if toks[k] in ("a", "an", "the") and n.isalpha() and len(n) >= 4 and n not in _SKIP \
                    and n not in _FIXTURE_WORDS and not n.endswith(("ing", "ly", "ed")):
                nouns.add(n)
    pool = sorted(nouns)
    rng.shuffle(pool)
    out: list[tuple[str, str, str, str]] = []
    for i, n in enumerate(pool[:1500]):
        base, sames = rng.choice(_SAME_FRAMES)
        out.append((n, "hit", base.format(n=n), rng.choice(sames).format(n=n)))
        a, b = rng.sample(_OTHER_FRAMES, 2)
        out.append((n, "miss", a.format(n=n), b.format(n=n)))
        m = pool[(i + 1) % len(pool)]
        fa, fb = rng.choice(_PAIR_SAME)
        out.append((n, "hit", fa.format(a=n, b=m, A=n.capitalize(), B=m.capitalize()),
                    fb.format(a=n, b=m, A=n.capitalize(), B=m.capitalize())))
        fa, fb = rng.choice(_PAIR_OTHER)
        out.append((n, "miss", fa.format(a=n, b=m), fb.format(a=n, b=m)))
    return out


def restyle(sentence: str, rng: random.Random) -> str:
    """The same words as typed differently: case, end punctuation, a polite frame."""
    out = sentence.rstrip(" .?!")
    choice = rng.randrange(3)
    if choice == 0:
        return out.lower()
    if choice == 1:
        return out + ("?" if sentence.rstrip().endswith("?") else "")
    return "Please tell me: " + out[:1].lower() + out[1:]


def _carry(slot: str, word: str) -> str:
    """`word` placed where `slot` was, keeping the slot's surrounding punctuation."""
    core = word.strip(".,;:!?\"'()")
    tail = slot[len(slot.rstrip(".,;:!?\"')")):]
    lead = slot[: len(slot) - len(slot.lstrip("\"'("))]
    return lead + core + tail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mirror", type=Path, help="git dir of brmson/dataset-sts")
    ap.add_argument("--out", type=Path, default=Path(".data/paraphrase"))
    ap.add_argument("--se-dups", type=Path, help="git dir of the Bogdanova et al. 2015 replication repository")
    ap.add_argument("--nq", type=Path, help="git dir of google-research-datasets/natural-questions (NQ-open)")
    ap.add_argument("--comqa", type=Path, help="git dir of aorogat/CBench (ComQA; scored only)")
    ap.add_argument("--lcquad", type=Path,
                    help="LC-QuAD 2.0's JSON, extracted from aorogat/CBench's data/lcquad_2_0.rar (see VERIFIER.md)")
    args = ap.parse_args(argv)
    rng = random.Random(15)
    phrase_rng = random.Random(16)  # its own stream: the other derived pairs stay as they were
    rows: list[dict[str, object]] = []
    for group, sources in (("train", TRAIN_SOURCES), ("leftout", LEFTOUT_SOURCES)):
        for name, rel in sources.items():
            pairs, sentences = read_tsv(git_show(args.mirror, f"{BASE}/{rel}"))
            for score, a, b in pairs:
                if 3 < score < 4:
                    continue  # between "important information differs" and "mostly equivalent"
                split = "leftout" if group == "leftout" else split_of(a + "\t" + b)
                kind = "natural-hit" if score >= 4 else "natural-near" if score >= 2 else "natural-unrelated"
                rows.append({"source": name, "split": split, "kind": kind, "label": "hit" if score >= 4 else "miss",
                             "score": score, "a": a, "b": b})
            for s in sorted(set(sentences)):
                split = "leftout" if group == "leftout" else split_of(s)
                if group == "train" and rng.random() < 0.15:
                    rows.append({"source": name, "split": split, "kind": "copy-hit", "label": "hit", "score": None,
                                 "a": s, "b": restyle(s, rng)})
                for label, a, b in swap_pairs(s, rng):
                    rows.append({"source": name, "split": split, "kind": f"swap-{label}", "label": label,
                                 "score": None, "a": a, "b": b})
                for label, a, b in phrase_swap_pairs(s, phrase_rng):
                    rows.append({"source": name, "split": split, "kind": f"phrase-swap-{label}", "label": label,
                                 "score": None, "a": a, "b": b})
    train_sentences = [s for rel in TRAIN_SOURCES.values() for s in read_tsv(git_show(args.mirror, f"{BASE}/{rel}"))[1]]
    for noun, label, a, b in frame_pairs(train_sentences, rng):
        rows.append({"source": "frames", "split": split_of(noun), "kind": f"frame-{label}", "label": label,
                     "score": None, "a": a, "b": b})
    if args.se_dups:
        rows += se_dup_rows(args.se_dups)
    if args.nq:
        rows += nq_rows(args.nq)
    if args.comqa:
        rows += comqa_rows(args.comqa)
    if args.lcquad:
        from lcquad_pairs import lcquad_rows

        rows += lcquad_rows(args.lcquad)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "pairs.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = Counter((str(r["split"]), str(r["kind"])) for r in rows)
    for key, n in sorted(counts.items()):
        print(f"{key[0]:8s} {key[1]:18s} {n:6d}")
    print(f"wrote {len(rows)} pairs to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
