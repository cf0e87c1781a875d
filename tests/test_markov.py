"""The markov backend, and the Model/AsyncModel classes built for declarations."""

from __future__ import annotations

import asyncio
import json

import llm
import pytest
from conftest import MARKOV

RHYME = (
    "the cat sat on the mat and the dog sat on the log and the cat saw the dog "
    "on the mat and the dog saw the cat on the log"
)


@pytest.fixture
def markov(write):
    write("markov.yaml", MARKOV)
    return llm.get_model("markov")


def table_of(text: str, order: int) -> dict:
    words = text.split()
    table: dict = {}
    for i in range(len(words) - order):
        table.setdefault(tuple(words[i : i + order]), []).append(words[i + order])
    return table


def assert_walks(words: list[str], text: str, order: int = 1) -> None:
    """llm-markov's semantics: start at a state of the table, then follow a
    recorded successor, or any word of the vocabulary when there is none."""
    table = table_of(text, order)
    vocabulary = {state[0] for state in table}
    assert tuple(words[:order]) in table
    for i in range(order, len(words)):
        state = tuple(words[i - order : i])
        allowed = table.get(state, vocabulary)
        assert words[i] in allowed, (words, i)


# -- semantics ----------------------------------------------------------------


def test_each_chunk_is_a_word_and_a_space(markov):
    chunks = list(markov.prompt(RHYME, length=8, seed=1))
    assert len(chunks) == 8
    assert all(chunk.endswith(" ") and chunk.count(" ") == 1 for chunk in chunks)


@pytest.mark.parametrize("seed", range(10))
def test_the_walk_follows_the_words_of_the_prompt(markov, seed):
    words = markov.prompt(RHYME, length=30, seed=seed).text().split()
    assert len(words) == 30
    assert_walks(words, RHYME)


def test_a_dead_end_jumps_to_any_word_of_the_prompt(markov):
    # "three" has no successor; after it comes one of the words that do.
    for seed in range(10):
        words = markov.prompt("one two three", length=10, seed=seed).text().split()
        assert_walks(words, "one two three")


def test_length_defaults_to_20_when_not_declared(write):
    write("a.yaml", "- model_id: bare\n  backend: {type: markov}\n")
    assert len(llm.get_model("bare").prompt("a b c").text().split()) == 20


def test_length_defaults_to_20_when_declared_without_a_default(write):
    write(
        "a.yaml",
        "- model_id: m\n  backend: {type: markov}\n  options: {length: {type: integer}}\n",
    )
    assert len(llm.get_model("m").prompt("a b c").text().split()) == 20


def test_the_same_seed_gives_the_same_text(markov):
    first = markov.prompt(RHYME, seed=42).text()
    assert markov.prompt(RHYME, seed=42).text() == first


def test_different_seeds_give_different_texts(markov):
    texts = {markov.prompt(RHYME, seed=seed).text() for seed in range(10)}
    assert len(texts) > 1


def test_no_stream_gives_the_same_text(markov):
    streamed = markov.prompt(RHYME, seed=7).text()
    assert markov.prompt(RHYME, seed=7, stream=False).text() == streamed


def test_the_same_seed_gives_the_same_text_on_the_command_line(markov, run_llm):
    first = run_llm("-m", "markov", "-o", "seed", "3", RHYME)
    second = run_llm("-m", "chain", "-o", "seed", "3", RHYME)
    no_stream = run_llm("-m", "markov", "-o", "seed", "3", "--no-stream", RHYME)
    assert first.exit_code == 0
    assert len(first.stdout.split()) == 20
    assert first.stdout == second.stdout == no_stream.stdout


@pytest.mark.parametrize("order", [2, 3])
def test_higher_orders_follow_n_grams(write, order):
    write(
        "a.yaml",
        f"""\
        - model_id: ngram
          backend: {{type: markov, order: {order}}}
          options: {{length: {{type: integer}}, seed: {{type: integer}}}}
        """,
    )
    model = llm.get_model("ngram")
    for seed in range(10):
        words = model.prompt(RHYME, length=25, seed=seed).text().split()
        assert len(words) == 25
        assert_walks(words, RHYME, order)


# -- corpus -------------------------------------------------------------------

CORPUS = "red green blue red blue green green red"


def test_corpus_is_relative_to_the_yaml_file(write, models_dir, tmp_path, monkeypatch):
    write(
        "sub/m.yaml",
        """\
        - model_id: trained
          backend: {type: markov, corpus: texts/colours.txt}
          options: {seed: {type: integer}}
        """,
    )
    write("sub/texts/colours.txt", CORPUS)
    monkeypatch.setenv("LLM_YAML_MODELS_PATH", str(models_dir / "sub"))
    monkeypatch.chdir(tmp_path)
    model = llm.get_model("trained")
    for seed in range(5):
        assert_walks(model.prompt("", seed=seed).text().split(), CORPUS)


def test_corpus_is_learned_as_well_as_the_prompt(write):
    write("colours.txt", CORPUS)
    write(
        "m.yaml",
        """\
        - model_id: trained
          backend: {type: markov, corpus: colours.txt}
          options: {seed: {type: integer}, length: {type: integer}}
        """,
    )
    model = llm.get_model("trained")
    seen: set[str] = set()
    for seed in range(30):
        seen |= set(model.prompt("one two three one three two", length=5, seed=seed).text().split())
    assert seen == {"red", "green", "blue", "one", "two", "three"}


def test_corpus_with_a_higher_order(write):
    write("colours.txt", CORPUS)
    write(
        "m.yaml",
        "- model_id: c2\n  backend: {type: markov, corpus: colours.txt, order: 2}\n",
    )
    assert_walks(llm.get_model("c2").prompt("").text().split(), CORPUS, 2)


def test_text_attachments_are_learned_from(write, tmp_path, run_llm):
    write(
        "a.yaml",
        """\
        - model_id: reader
          backend: {type: markov}
          attachment_types: [text/plain]
        """,
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("alpha beta gamma alpha delta\n")
    result = run_llm("-m", "reader", "-a", str(notes), "")
    assert result.exit_code == 0, result.output
    assert_walks(result.stdout.split(), "alpha beta gamma alpha delta")


# -- nothing to learn from --------------------------------------------------

NOTHING = (
    "markov: nothing to learn from: the prompt needs at least 2 words, or declare backend.corpus"
)


@pytest.mark.parametrize("prompt", ["", "lonely"])
def test_too_short_a_prompt_is_a_clear_error(markov, prompt):
    with pytest.raises(llm.ModelError) as info:
        markov.prompt(prompt).text()
    assert str(info.value) == NOTHING


def test_too_short_a_prompt_is_one_line_on_the_command_line(markov, run_llm):
    result = run_llm("-m", "markov", "")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {NOTHING}\n"


def test_higher_orders_need_more_words(write):
    write("a.yaml", "- model_id: tri\n  backend: {type: markov, order: 3}\n")
    with pytest.raises(llm.ModelError) as info:
        llm.get_model("tri").prompt("only three words").text()
    assert str(info.value) == (
        "tri: nothing to learn from: the prompt needs at least 4 words, or declare backend.corpus"
    )


# -- async --------------------------------------------------------------------


def test_async_model_gives_the_same_text_as_sync(markov):
    async def run():
        response = llm.get_async_model("markov").prompt(RHYME, seed=5)
        return await response.text()

    assert asyncio.run(run()) == markov.prompt(RHYME, seed=5).text()


def test_async_model_too_short_a_prompt(markov):
    async def run():
        return await llm.get_async_model("markov").prompt("").text()

    with pytest.raises(llm.ModelError) as info:
        asyncio.run(run())
    assert str(info.value) == NOTHING


def test_async_delay_does_not_block_the_event_loop(markov):
    async def run():
        done = asyncio.Event()
        ticks = 0

        async def ticker():
            nonlocal ticks
            for _ in range(10_000):
                if done.is_set():
                    return
                ticks += 1
                await asyncio.sleep(0.005)

        async def prompt():
            model = llm.get_async_model("markov")
            chunks = [c async for c in model.prompt(RHYME, length=5, delay=0.05, seed=1)]
            done.set()
            return chunks

        chunks, _ = await asyncio.gather(prompt(), ticker())
        return chunks, ticks

    chunks, ticks = asyncio.run(run())
    assert len(chunks) == 5
    assert ticks >= 5


# -- logs and conversations ------------------------------------------------


def test_usage_and_response_json_are_logged(markov, run_llm):
    assert run_llm("-m", "markov", "-o", "seed", "9", "-o", "length", "6", RHYME).exit_code == 0
    logged = json.loads(run_llm("logs", "--json", "-n", "1").stdout)[0]
    assert logged["model"] == "markov"
    assert (logged["input_tokens"], logged["output_tokens"]) == (len(RHYME.split()), 6)
    assert logged["response_json"] == {
        "order": 1,
        "vocabulary": len(table_of(RHYME, 1)),
        "seed": 9,
    }


def test_usage_is_reported_through_the_python_api(markov):
    response = markov.prompt("a b c a", length=4)
    response.text()
    assert (response.usage().input, response.usage().output) == (4, 4)
    assert response.response_json == {"order": 1, "vocabulary": 3}


def test_a_conversation_continues_with_dash_c(markov, run_llm):
    first = run_llm("-m", "markov", "-o", "seed", "1", "the cat sat on the mat")
    second = run_llm("-c", "-o", "seed", "2", "dogs chase cats and cats chase mice")
    assert (first.exit_code, second.exit_code) == (0, 0)
    assert set(second.stdout.split()) <= {"dogs", "chase", "cats", "and", "mice"}
    logs = json.loads(run_llm("logs", "--json", "-n", "2").stdout)
    assert [entry["prompt"] for entry in logs] == [
        "the cat sat on the mat",
        "dogs chase cats and cats chase mice",
    ]
    assert [entry["model"] for entry in logs] == ["markov", "markov"]
    assert logs[0]["conversation_id"] == logs[1]["conversation_id"]


def test_a_conversation_continues_in_python(markov):
    conversation = markov.conversation()
    conversation.prompt("the cat sat on the mat", seed=1).text()
    reply = conversation.prompt("dogs chase cats", seed=1).text()
    assert len(conversation.responses) == 2
    assert set(reply.split()) <= {"dogs", "chase", "cats"}


# -- the classes built for each declaration ------------------------------


def test_str_names_the_backend_and_model(markov):
    assert str(markov) == "YAML markov: markov"
    assert str(llm.get_async_model("markov")) == "YAML markov (async): markov"


def test_each_declaration_gets_its_own_classes(write):
    write("a.yaml", MARKOV + "- model_id: other\n  backend: {type: markov}\n")
    sync = {type(llm.get_model(name)) for name in ("markov", "other")}
    asyncs = {type(llm.get_async_model(name)) for name in ("markov", "other")}
    assert len(sync) == 2 and len(asyncs) == 2
    assert all(issubclass(cls, llm.Model) for cls in sync)
    assert all(issubclass(cls, llm.AsyncModel) for cls in asyncs)
    assert not sync & asyncs


def test_aliases_find_the_model(markov):
    assert llm.get_model("chain").model_id == "markov"
    assert llm.get_async_model("chain").model_id == "markov"


def test_a_model_with_a_key_is_a_key_model(write):
    write(
        "a.yaml",
        """\
        - model_id: keyed
          backend: {type: markov}
          key: {name: keyed-service, env: KEYED_SERVICE_KEY}
        - model_id: keyed-no-env
          backend: {type: markov}
          key: {name: other-service}
        """,
    )
    model, async_model = llm.get_model("keyed"), llm.get_async_model("keyed")
    assert isinstance(model, llm.KeyModel)
    assert isinstance(async_model, llm.AsyncKeyModel)
    assert (model.needs_key, model.key_env_var) == ("keyed-service", "KEYED_SERVICE_KEY")
    assert (async_model.needs_key, async_model.key_env_var) == (
        "keyed-service",
        "KEYED_SERVICE_KEY",
    )
    other = llm.get_model("keyed-no-env")
    assert (other.needs_key, other.key_env_var) == ("other-service", None)


def test_a_model_without_a_key_is_a_plain_model(markov):
    assert not isinstance(markov, llm.KeyModel)
    assert not isinstance(llm.get_async_model("markov"), llm.AsyncKeyModel)
    assert markov.needs_key is None


def test_a_key_model_asks_for_its_key(write, monkeypatch):
    write(
        "a.yaml",
        "- model_id: keyed\n  backend: {type: markov}\n  key: {name: ks, env: KEYED_KEY}\n",
    )
    monkeypatch.delenv("KEYED_KEY", raising=False)
    model = llm.get_model("keyed")
    with pytest.raises(llm.NeedsKeyException):
        model.prompt("a b c").text()
    assert len(model.prompt("a b c", key="secret").text().split()) == 20
    monkeypatch.setenv("KEYED_KEY", "from-env")
    assert len(model.prompt("a b c").text().split()) == 20


def test_can_stream_false_is_passed_to_llm(write, run_llm):
    write(
        "a.yaml",
        "- model_id: whole\n  backend: {type: markov}\n  can_stream: false\n",
    )
    assert llm.get_model("whole").can_stream is False
    listed = run_llm("models", "list", "--options", "-m", "whole").stdout
    assert listed.endswith("  Features:\n  - async\n")
    result = run_llm("-m", "whole", "a b c")
    assert result.exit_code == 0
    assert len(result.stdout.split()) == 20


def test_attachment_types_are_declared_on_the_model(write):
    write(
        "a.yaml",
        "- model_id: reader\n  backend: {type: markov}\n  attachment_types: [text/plain]\n",
    )
    assert llm.get_model("reader").attachment_types == {"text/plain"}
