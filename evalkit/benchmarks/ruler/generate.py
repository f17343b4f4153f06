"""Generate RULER samples the way NVIDIA/RULER's scripts do, so that the same seed, tokenizer
and length give the same needles, answers and text as the official generator.

Each task draws from its own random streams seeded like the upstream script (`random.seed`
and `np.random.seed` of the run seed), and consumes them in the upstream order (the size
search draws too), which is what makes the samples match. A haystack is sized by binary
search so that `tokens(input) + tokens_to_generate <= max_seq_length - template_tokens`,
counted with the evaluated model's tokenizer; `template_tokens` is what the chat template
adds (RULER's `model_template_token`).
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.benchmarks.ruler import corpora
from evalkit.benchmarks.ruler.keys import PairList
from evalkit.benchmarks.ruler.tasks import KINDS, TASKS, RulerTask
from evalkit.errors import UsageError

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."
DEPTHS = list(np.round(np.linspace(0, 100, num=40, endpoint=True)).astype(int))
DOCUMENT = "Document {i}:\n{document}"

Counter = Callable[[str], int]


@dataclass(frozen=True)
class RulerSample:
    task: str
    index: int
    input: str  # the prompt without the answer prefix
    answer_prefix: str
    outputs: list[str]
    length: int  # tokens of input + answer prefix + tokens_to_generate (+ template tokens), as upstream


@lru_cache(maxsize=1)
def _key_words() -> PairList:
    """Needle keys: every adjective-noun pair of the wonderwords lists, sorted (6.2M strings)."""
    nouns, adjs, _ = corpora.wonderwords_lists()
    return PairList(adjs, nouns)


def _sentences(text: str) -> list[str]:
    # nltk.sent_tokenize (English Punkt) without an NLTK data download; shared with IFEval.
    from evalkit.benchmarks.ifeval.text import split_sentences

    return split_sentences(text)


def _split_prefix(kind: str, text: str) -> tuple[str, str]:
    at = text.rfind(KINDS[kind].answer_prefix[:10])  # upstream locates it by its first 10 characters
    return text[:at], text[at:]


def _search(fits: Callable[[int], bool], lower: int, upper: int) -> int | None:
    best = None
    while lower <= upper:
        mid = (lower + upper) // 2
        if fits(mid):
            best, lower = mid, mid + 1
        else:
            upper = mid - 1
    return best


@dataclass
class _Setup:
    """What every generator gets: the task, the token counter, the seed, the corpus folder, the
    requested length (some settings switch on it) and the chat template's token count."""

    task: RulerTask
    count: Counter
    seed: int
    corpus: Path
    length: int
    template_tokens: int


class _Niah:
    def __init__(self, setup: _Setup):
        task, count, seed, corpus = setup.task, setup.count, setup.seed, setup.corpus
        self.setup = setup
        a = task.args
        self.a, self.count, self.seed = a, count, seed
        self.rng, self.np = random.Random(seed), np.random.RandomState(seed)
        self.nk = max(a["num_needle_k"], a["num_needle_q"])
        self.template = KINDS["niah"].template + KINDS["niah"].answer_prefix
        self.haystack: Any = corpora.essay_words(corpus) if a["type_haystack"] == "essay" else None
        self.words = _key_words()

    def _random(self, kind: str) -> str:
        if kind == "numbers":
            return str(self.rng.randint(10**6, 10**7 - 1))
        if kind == "words":
            return self.rng.choice(self.words)
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def make(self, n: int) -> tuple[str, list[str]]:
        a, rng = self.a, self.rng
        keys, values, needles = [], [], []
        for _ in range(self.nk):
            keys.append(self._random(a["type_needle_k"]))
            value = []
            for _ in range(a["num_needle_v"]):
                value.append(self._random(a["type_needle_v"]))
                needles.append(NEEDLE.format(type_needle_v=a["type_needle_v"], key=keys[-1], value=value[-1]))
            values.append(value)
        random.Random(self.seed).shuffle(needles)
        if a["type_haystack"] == "essay":
            hay = self.haystack
            words = hay[:n] if n <= len(hay) else (hay * ((n + len(hay) - 1) // len(hay)))[:n]
            sents = _sentences(" ".join(words).strip())
            cuts = [int(len(sents) * (d / 100)) for d in rng.sample(DEPTHS, len(needles))]
            pos = [0, *sorted(cuts), len(sents)]
            parts = []
            for i in range(1, len(pos)):
                parts.append(" ".join(sents[pos[i - 1] : pos[i]]))
                if i - 1 < len(needles):
                    parts.append(needles[i - 1])
            context = " ".join(parts)
        else:
            if a["type_haystack"] == "noise":
                lines = [NOISE] * n
            else:
                lines = [
                    NEEDLE.format(
                        type_needle_v=a["type_needle_v"],
                        key=self._random(a["type_needle_k"]),
                        value=self._random(a["type_needle_v"]),
                    )
                    for _ in range(n)
                ]
            for at, needle in zip(
                sorted(rng.sample(range(n), len(needles)), reverse=True), needles, strict=False
            ):
                lines.insert(at, needle)
            context = "\n".join(lines)
        picked = rng.sample(range(self.nk), a["num_needle_q"])
        queries = [keys[i] for i in picked]
        answers = [v for i in picked for v in values[i]]
        query = ", ".join(queries[:-1]) + ", and " + queries[-1] if len(queries) > 1 else queries[0]
        template, type_v = self.template, a["type_needle_v"]
        if a["num_needle_q"] * a["num_needle_v"] == 1:  # singular wording, as upstream rewrites it
            for old, new in (("Some", "A"), ("are all", "is"), ("are", "is"), ("answers", "answer")):
                template = template.replace(old, new)
            type_v = type_v[:-1]
        return template.format(type_needle_v=type_v, context=context, query=query), answers

    def generate(
        self, num_samples: int, max_len: int, tokens_to_generate: int
    ) -> list[tuple[str, list[str], int]]:
        inc = 500 if self.a["type_haystack"] == "essay" else 25
        if self.a["type_haystack"] != "essay" and self.setup.length < 4096:
            inc = 5
        text, _ = self.make(inc)
        per = self.count(text) / inc
        upper = max(int((max_len / per) * 3), inc * 2)
        best = _search(lambda m: self.count(self.make(m)[0]) + tokens_to_generate <= max_len, inc, upper)
        return _fill(
            self.make,
            best if best is not None else inc,
            inc,
            num_samples,
            max_len,
            tokens_to_generate,
            self.count,
        )


def _fill(
    make: Callable[[int], tuple[str, list[str]]],
    size: int,
    inc: int,
    num_samples: int,
    max_len: int,
    tokens_to_generate: int,
    count: Counter,
) -> list[tuple[str, list[str], int]]:
    """Upstream's sample loop: retry with a smaller haystack while a draw runs over the limit."""
    out = []
    for _ in range(num_samples):
        used = size
        while True:
            text, answer = make(used)
            length = count(text) + tokens_to_generate
            if length <= max_len:
                break
            if used > inc:
                used -= inc
        out.append((text, answer, length))
    return out


class _VariableTracking:
    def __init__(self, setup: _Setup):
        task, count, seed = setup.task, setup.count, setup.seed
        self.setup = setup
        self.a, self.count = task.args, count
        self.rng, self.np = random.Random(seed), np.random.RandomState(seed)
        if self.a["type_haystack"] != "noise":
            raise NotImplementedError("RULER vt is configured with the noise haystack only")
        self.template = KINDS["variable_tracking"].template + KINDS["variable_tracking"].answer_prefix

    def _chains(self, hops: int, icl: bool) -> tuple[list[list[str]], list[list[str]]]:
        chains_n, k = self.a["num_chains"], 3 if icl else 5
        hops = min(10, hops) if icl else hops
        up = string.ascii_uppercase
        names = ["".join(self.rng.choices(up, k=k)).upper() for _ in range((hops + 1) * chains_n)]
        while len(set(names)) < chains_n * (hops + 1):
            names.append("".join(self.rng.choices(up, k=k)).upper())
        all_vars, chains = [], []
        for i in range(0, len(names), hops + 1):
            vs = names[i : i + hops + 1]
            all_vars.append(vs)
            first = "12345" if icl else str(self.np.randint(10000, 99999))
            chains.append(
                [f"VAR {vs[0]} = {first}"] + [f"VAR {vs[j + 1]} = VAR {vs[j]} " for j in range(hops)]
            )
        return all_vars, chains

    def make(self, n: int, icl: bool) -> tuple[str, list[str]]:
        hops = self.a["num_hops"]
        all_vars, chains = self._chains(hops, icl)
        value = chains[0][0].split("=")[-1].strip()
        lines = [NOISE] * n
        for chain in chains:
            for insert_at, j in zip(
                sorted(self.rng.sample(range(len(lines)), len(chain))), range(len(chain)), strict=False
            ):
                lines.insert(insert_at + j, chain[j])
        context = "\n".join(lines).replace(". \n", ".\n")
        return self.template.format(context=context, query=value, num_v=hops + 1), all_vars[0]

    def _randomize_icl(self, example: str) -> str:
        for item in example.strip().split()[-self.a["num_hops"] - 1 :]:
            example = example.replace(
                item, "".join(self.rng.choices(string.ascii_uppercase, k=len(item))).upper()
            )
        return example.replace("12345", str(self.np.randint(10000, 99999)))

    def _run(
        self, num_samples: int, max_len: int, orig_len: int, tokens_to_generate: int, icl_example: str | None
    ) -> list[tuple[str, list[str], int]]:
        is_icl = icl_example is None  # upstream: add_fewshot & (icl_example is None)
        if icl_example is not None:
            inc = 5 if orig_len < 4096 else 10
            tokens_to_generate_eff, example_tokens = tokens_to_generate, self.count(icl_example)
        else:
            inc, tokens_to_generate_eff, example_tokens = 5, 0, 0
        text, _ = self.make(inc, is_icl)
        per = self.count(text) / inc
        upper = max(int((max_len / per) * 3), inc * 2)
        best = _search(
            lambda m: (
                self.count(self.make(m, is_icl)[0]) + example_tokens + tokens_to_generate_eff <= max_len
            ),
            inc,
            upper,
        )
        size = best if best is not None else inc
        out = []
        for _ in range(num_samples):
            used = size
            while True:
                text, answer = self.make(used, is_icl)
                if icl_example is not None:
                    cut = text.index(KINDS["variable_tracking"].template[:20])
                    text = text[:cut] + self._randomize_icl(icl_example) + "\n" + text[cut:]
                length = self.count(text) + tokens_to_generate_eff
                if length <= max_len:
                    break
                if used > inc:
                    used -= inc
            out.append((text, answer, length))
        return out

    def generate(
        self, num_samples: int, max_len: int, tokens_to_generate: int
    ) -> list[tuple[str, list[str], int]]:
        # Upstream first draws a one-shot example at 500 tokens (3-letter names, value 12345),
        # then puts a re-lettered copy of it before every sample.
        icl_text, icl_answer, _ = self._run(
            1, 500 - self.setup.template_tokens, self.setup.length, tokens_to_generate, None
        )[0]
        example = icl_text + " " + " ".join(icl_answer) + "\n"
        return self._run(num_samples, max_len, self.setup.length, tokens_to_generate, example)


class _CommonWords:
    def __init__(self, setup: _Setup):
        task, count, seed, corpus = setup.task, setup.count, setup.seed, setup.corpus
        self.setup = setup
        self.a, self.count, self.seed, self.corpus = task.args, count, seed, corpus
        self.rng = random.Random(seed)
        nouns, adjs, verbs = corpora.wonderwords_lists()
        self.words = sorted(set(nouns + adjs + verbs))
        random.Random(seed).shuffle(self.words)
        self.template = (
            KINDS["common_words_extraction"].template + KINDS["common_words_extraction"].answer_prefix
        )
        self._english: list[str] | None = None

    def _example(
        self, num_words: int, common_repeats: int, uncommon_repeats: int, common_nums: int
    ) -> tuple[str, list[str]]:
        if num_words <= len(self.words):
            full = self.rng.sample(self.words, num_words)
        else:
            if self._english is None:
                self._english = corpora.english_words(self.corpus)
            full = self.rng.sample(self._english, num_words)
        common, uncommon = full[:common_nums], full[common_nums:]
        word_list = common * int(common_repeats) + uncommon * int(uncommon_repeats)
        random.Random(self.seed).shuffle(word_list)
        return " ".join(f"{i + 1}. {w}" for i, w in enumerate(word_list)), common

    def make(self, num_words: int) -> tuple[str, list[str]]:
        a, shots = self.a, []
        num_cw = a["num_cw"]
        if self.setup.length < 4096:
            for _ in range(1):
                shots.append(self._example(20, 3, 1, num_cw))
            context, answer = self._example(num_words, 6, 1, num_cw)
        else:
            for _ in range(1):
                shots.append(self._example(40, 10, 3, num_cw))
            context, answer = self._example(num_words, a["freq_cw"], a["freq_ucw"], num_cw)
        rendered = [
            self.template.format(num_cw=num_cw, context=c, query="")
            + " "
            + " ".join(f"{i + 1}. {w}" for i, w in enumerate(ans))
            for c, ans in shots
        ]
        return "\n".join(rendered) + "\n" + self.template.format(
            num_cw=num_cw, context=context, query=""
        ), answer

    def generate(
        self, num_samples: int, max_len: int, tokens_to_generate: int
    ) -> list[tuple[str, list[str], int]]:
        inc = 10
        text, _ = self.make(4096)
        per = self.count(text) / 4096
        upper = max(int(max_len // per) * 2, inc * 2)
        best = _search(lambda m: self.count(self.make(m)[0]) + tokens_to_generate <= max_len, inc, upper)
        return _fill(
            self.make,
            best if best is not None else inc,
            inc,
            num_samples,
            max_len,
            tokens_to_generate,
            self.count,
        )


class _FreqWords:
    def __init__(self, setup: _Setup):
        task, count, seed = setup.task, setup.count, setup.seed
        self.setup = setup
        self.a, self.count, self.seed = task.args, count, seed
        self.rng = random.Random(seed)
        self.template = KINDS["freq_words_extraction"].template + KINDS["freq_words_extraction"].answer_prefix

    def make(self, max_len: int, num_words: int, vocab_size: int, inc: int) -> tuple[str, list[str], int]:
        from scipy.special import zeta

        alpha, wordlen = self.a["alpha"], 6
        vocab = ["".join(self.rng.choices(string.ascii_lowercase, k=wordlen)) for _ in range(vocab_size)]
        while len(set(vocab)) < vocab_size:
            vocab.append("".join(self.rng.choices(string.ascii_lowercase, k=wordlen)))
        vocab = sorted(set(vocab))
        random.Random(self.seed).shuffle(vocab)
        vocab[0] = "..."  # the top-ranked word is noise

        def text_of(n: int) -> tuple[str, list[str]]:
            k = np.arange(1, len(vocab) + 1)
            counts = (n * (k**-alpha) / zeta(alpha)).astype(int)
            words = [w for w, c in zip(vocab, counts, strict=True) for _ in range(c)]
            random.Random(self.seed).shuffle(words)
            return self.template.format(context=" ".join(words), query=""), vocab[1:4]

        if num_words > 0:
            text, answer = text_of(num_words)
            while self.count(text) > max_len:
                num_words -= inc
                text, answer = text_of(num_words)
        else:
            num_words = max_len // wordlen
            text, answer = text_of(num_words)
            while self.count(text) < max_len:
                num_words += inc
                text, answer = text_of(num_words)
            num_words -= inc
        text, answer = text_of(num_words)
        return text, answer, num_words

    def generate(
        self, num_samples: int, max_len: int, tokens_to_generate: int
    ) -> list[tuple[str, list[str], int]]:
        budget = max_len - tokens_to_generate
        vocab_size = budget // 50
        _, _, num_words = self.make(budget, -1, vocab_size, budget // 32)
        out = []
        for _ in range(num_samples):
            text, answer, _ = self.make(budget, num_words, vocab_size, budget // 32)
            out.append((text, answer, self.count(text) + tokens_to_generate))
        return out


class _QA:
    # Upstream's step down can go below the question's own documents (HotpotQA has 10 per
    # question): `random.sample` then raises inside its bare `except` and the official script
    # loops forever on that sample (it did at 4K with the tiny model's tokenizer). Here the step
    # stops at the question's own documents, and a size that cannot fit (nothing left to draw,
    # or MAX_RETRIES redraws) is an error. Wherever the official script finishes, both agree.
    MAX_RETRIES = 1000

    def __init__(self, setup: _Setup):
        task, count, seed, corpus = setup.task, setup.count, setup.seed, setup.corpus
        self.setup = setup
        self.count, self.seed = count, seed
        self.rng = random.Random(seed)
        self.data = corpora.qa_corpus(corpus, task.args["dataset"])
        self.template = KINDS["qa"].template + KINDS["qa"].answer_prefix

    def make(self, index: int, num_docs: int) -> tuple[str, list[str]]:
        qa, docs = self.data.qas[index], self.data.docs
        own, more = qa["context"], qa.get("more_context", [])
        if num_docs < len(docs):
            if num_docs - len(own) > len(more):
                taken = set(own + more)
                extra = [i for i in range(len(docs)) if i not in taken]
                ids = own + more + self.rng.sample(extra, max(0, num_docs - len(own) - len(more)))
            else:
                ids = own + self.rng.sample(more, num_docs - len(own))
            chosen = [docs[i] for i in ids]
        else:
            chosen = (docs * ((num_docs + len(docs) - 1) // len(docs)))[:num_docs]
        random.Random(self.seed).shuffle(chosen)
        context = "\n\n".join(DOCUMENT.format(i=i + 1, document=d) for i, d in enumerate(chosen))
        return self.template.format(context=context, query=qa["query"]), list(qa["outputs"])

    def generate(
        self, num_samples: int, max_len: int, tokens_to_generate: int
    ) -> list[tuple[str, list[str], int]]:
        inc = 10
        text, _ = self.make(0, inc)
        per = self.count(text) / inc
        upper = max(int((max_len / per) * 3), inc * 2)
        best = _search(lambda m: self.count(self.make(0, m)[0]) + tokens_to_generate <= max_len, inc, upper)
        size = best if best is not None else inc
        out = []
        for index in range(num_samples):
            used, own, retries = size, len(self.data.qas[index]["context"]), 0
            while True:
                text, answer = self.make(index, used)
                length = self.count(text) + tokens_to_generate
                if length <= max_len:
                    break
                if used > inc and used > own:  # upstream steps down by `inc` documents ...
                    used = max(used - inc, own)
                elif used > own and retries < self.MAX_RETRIES:  # ... else redraws the same number
                    retries += 1
                else:
                    raise UsageError(
                        f"RULER {self.setup.task.name} sample {index} does not fit {max_len} tokens "
                        f"(chat template excluded) with {used} documents ({length} tokens with the "
                        f"output budget; the question's own documents: {own}); use a longer length"
                    )
            out.append((text, answer, length))
        return out


_GENERATORS: dict[str, Any] = {
    "niah": _Niah,
    "variable_tracking": _VariableTracking,
    "common_words_extraction": _CommonWords,
    "freq_words_extraction": _FreqWords,
    "qa": _QA,
}


def generate_task(
    name: str,
    count: Counter,
    max_seq_length: int,
    num_samples: int,
    *,
    corpus: Path,
    seed: int = 42,
    template_tokens: int = 0,
) -> list[RulerSample]:
    """The first `num_samples` samples of one RULER task at `max_seq_length` tokens.

    `count(text)` is the number of the evaluated model's tokens in `text`. Sample i does not
    depend on `num_samples` (a longer run extends a shorter one).
    """
    task = TASKS[name]
    gen = _GENERATORS[task.kind](_Setup(task, count, seed, corpus, max_seq_length, template_tokens))
    tokens = task.spec.tokens_to_generate
    drawn = gen.generate(num_samples, max_seq_length - template_tokens, tokens)
    out = []
    for i, (text, answer, length) in enumerate(drawn):
        body, prefix = _split_prefix(task.kind, text)
        out.append(RulerSample(name, i, body, prefix, [str(a) for a in answer], length + template_tokens))
    return out
