"""The Markov backend: llm-markov's chain, declared in YAML.

Same semantics as the llm plugin tutorial's llm-markov: a transition table
over the words, a random start word, then a random successor or, lacking
one, a random word from the vocabulary. Beyond it: a ``seed`` option, a
``corpus`` file trained on as well as the prompt, and n-gram ``order``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from .base import Backend, BackendConfig, Request
from .worker import in_thread

DEFAULT_LENGTH = 20


@dataclass(frozen=True)
class MarkovConfig(BackendConfig):
    corpus: Path | None = None
    order: int = 1

    @classmethod
    def from_data(cls, data: dict, source: Path, model=None) -> MarkovConfig:
        corpus = data.get("corpus")
        return cls(corpus=source.parent / corpus if corpus else None, order=data.get("order", 1))


@contextlib.contextmanager
def _collector_paused():
    """The table is lists of strings, which cannot form cycles; without this
    pause, the cyclic collector traverses the growing table over and over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_table(words: list[str], order: int = 1) -> dict:
    """State -> list of the words that followed it (a state is a word, or a
    tuple of ``order`` words)."""
    table: dict = {}
    get = table.get
    states = (
        words if order == 1 else zip(*(islice(words, i, None) for i in range(order)), strict=False)
    )
    for state, following in zip(states, islice(words, order, None), strict=False):
        successors = get(state)
        if successors is None:
            table[state] = [following]
        else:
            successors.append(following)
    return table


class Chain:
    """Several transition tables (corpus, prompt, text attachments) walked as one."""

    def __init__(self, tables: list[dict], order: int):
        self.tables = [t for t in tables if t]
        self.order = order
        if len(self.tables) == 1:
            self.states = list(self.tables[0])
        else:
            self.states = list(dict.fromkeys(s for t in self.tables for s in t))
        self.vocabulary = (
            self.states if order == 1 else list(dict.fromkeys(s[0] for s in self.states))
        )

    def successor(self, state, rng: random.Random) -> str:
        found = [s for t in self.tables if (s := t.get(state))]
        if not found:
            return rng.choice(self.vocabulary)
        if len(found) == 1:
            return rng.choice(found[0])
        index = rng.randrange(sum(map(len, found)))
        for successors in found:
            if index < len(successors):
                return successors[index]
            index -= len(successors)
        raise AssertionError("unreachable")

    def walk(self, length: int, rng: random.Random) -> list[str]:
        state = rng.choice(self.states)
        words = [state] if self.order == 1 else list(state)
        while len(words) < length:
            word = self.successor(state, rng)
            words.append(word)
            state = word if self.order == 1 else (*state[1:], word)
        return words[:length]


class MarkovBackend(Backend):
    Config = MarkovConfig
    # Options this backend reads, when declared, and the rules they must keep.
    option_rules = {
        "length": {"types": ("integer",), "minimum": 2},
        "delay": {"types": ("number", "integer"), "minimum": 0, "maximum": 10},
        "seed": {"types": ("integer",)},
    }

    def __init__(self, config):
        super().__init__(config)
        self._corpus: tuple[float, dict] | None = None

    @classmethod
    def check(cls, data, doc, origin, base_dir, deep=False) -> list:
        problems = []
        for name, spec in data.get("options", {}).items():
            rules = cls.option_rules.get(name)
            if rules is None:
                continue
            path = ("options", name)
            if spec["type"] not in rules["types"]:
                wanted = " or ".join(rules["types"])
                message = f"the markov backend reads '{name}' as {wanted}, not {spec['type']}"
                problems.append(doc.problem(origin(path + ("type",)), message))
            if "minimum" in rules and spec.get("minimum", rules["minimum"]) < rules["minimum"]:
                message = f"the markov backend needs {name} >= {rules['minimum']}"
                problems.append(doc.problem(origin(path + ("minimum",)), message))
            if "maximum" in rules and spec.get("maximum", rules["maximum"]) > rules["maximum"]:
                message = f"the markov backend needs {name} <= {rules['maximum']}"
                problems.append(doc.problem(origin(path + ("maximum",)), message))
            default = spec.get("default")
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                low, high = rules.get("minimum"), rules.get("maximum")
                bound = None
                if low is not None and default < low:
                    bound = f">= {low}"
                elif high is not None and default > high:
                    bound = f"<= {high}"
                if bound:
                    message = f"default {default}: the markov backend needs {name} {bound}"
                    problems.append(doc.problem(origin(path + ("default",)), message))
        for i, mime in enumerate(data.get("attachment_types", ())):
            if not mime.startswith("text/"):
                message = f"the markov backend reads only text/* attachments, not {mime}"
                problems.append(doc.problem(origin(("attachment_types", i)), message))
        corpus = data["backend"].get("corpus")
        if corpus:
            doc.deps.append(str(base_dir / corpus))
        if corpus and not (base_dir / corpus).is_file():
            message = f"corpus file not found: {base_dir / corpus}"
            problems.append(doc.problem(origin(("backend", "corpus")), message))
        return problems

    def corpus_table(self, request: Request) -> dict:
        path = self.config.corpus
        if path is None:
            return {}
        try:
            mtime = os.stat(path).st_mtime_ns
            if self._corpus is None or self._corpus[0] != mtime:
                text = path.read_text("utf-8", errors="replace")
                self._corpus = (mtime, build_table(text.split(), self.config.order))
        except OSError as exc:
            raise request.fail(f"cannot read corpus {path}: {exc.strerror}") from exc
        return self._corpus[1]

    def load_corpus(self, request: Request) -> dict:
        """The corpus table, built (or rebuilt) now if it is not up to date."""
        with _collector_paused():
            return self.corpus_table(request)

    def words(self, request: Request) -> list[str]:
        with _collector_paused():
            return self._words(request)

    def _words(self, request: Request) -> list[str]:
        order = self.config.order
        texts = [request.prompt or ""]
        texts += [a.content_bytes().decode("utf-8", "replace") for a in request.attachments]
        splits = [text.split() for text in texts]
        tables = [self.corpus_table(request)] + [build_table(w, order) for w in splits]
        chain = Chain(tables, order)
        if not chain.states:
            raise request.fail(
                f"nothing to learn from: the prompt needs at least {order + 1} words"
                + ("" if self.config.corpus else ", or declare backend.corpus")
            )
        seed = request.options.get("seed")
        rng = random.Random(seed)
        words = chain.walk(request.options.get("length", DEFAULT_LENGTH), rng)
        request.set_usage(input=sum(map(len, splits)), output=len(words))
        request.response_json = {"order": order, "vocabulary": len(chain.vocabulary)}
        if seed is not None:
            request.response_json["seed"] = seed
        return words

    def plan(self, request: Request) -> tuple[list[str], float]:
        """The chunks to yield, and the seconds to wait between them."""
        words = self.words(request)
        if not request.stream:
            # One chunk: the same text, without per-chunk overhead in llm.
            return ["".join(word + " " for word in words)], 0
        return [word + " " for word in words], request.options.get("delay", 0)

    def stream(self, request: Request) -> Iterator[str]:
        chunks, delay = self.plan(request)
        for i, chunk in enumerate(chunks):
            if delay and i:
                time.sleep(delay)
            yield chunk

    async def astream(self, request: Request) -> AsyncIterator[str]:
        if self.config.corpus is not None:
            # Building a large corpus's table takes a while: off the event loop.
            await in_thread(request, self.load_corpus, request)
        chunks, delay = self.plan(request)
        for i, chunk in enumerate(chunks):
            if delay and i:
                await asyncio.sleep(delay)
            yield chunk


BACKEND = MarkovBackend
