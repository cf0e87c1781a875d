"""``llm yaml-models import FILE``: llm's extra-openai-models.yaml, or a
LiteLLM proxy config.yaml, as a model file of this plugin.

    FILE -> plain YAML (safe_load) -> one Converted per model (its keys, and
    comments for what was dropped and why) -> text on stdout

Values are written as JSON, which is YAML, so no string can break the file;
comments are one line each, escaped. A literal key is never copied: the
output says where to store it instead.
"""

from __future__ import annotations

import json
import re

from ..backends.http.config import PRESETS
from ..errors import ConversionError, printable

OPENAI = "https://api.openai.com/v1"
# llm's vision: true models take these (PDFs as file parts, as openai-chat sends them).
VISION = ["image/png", "image/jpeg", "image/webp", "image/gif", "application/pdf"]
AUDIO = ["audio/wav", "audio/mpeg"]
NAME = re.compile(r"^(?!-)\S+$")

# llm's own options for OpenAI chat models, as option specs.
# LiteLLM provider -> (preset, default base_url)
PROVIDERS = {
    "openai": ("openai-chat", OPENAI),
    "text-completion-openai": ("openai-completions", OPENAI),
    "azure": ("azure-openai", None),
    "anthropic": ("anthropic-messages", "https://api.anthropic.com/v1"),
    "ollama_chat": ("ollama-chat", "http://localhost:11434"),
    "ollama": ("ollama-chat", "http://localhost:11434"),
    "hosted_vllm": ("openai-chat", None),
    "lm_studio": ("openai-chat", "http://localhost:1234/v1"),
    "openai_compatible": ("openai-chat", None),
    "groq": ("openai-chat", "https://api.groq.com/openai/v1"),
    "openrouter": ("openai-chat", "https://openrouter.ai/api/v1"),
    "mistral": ("openai-chat", "https://api.mistral.ai/v1"),
    "deepseek": ("openai-chat", "https://api.deepseek.com/v1"),
    "together_ai": ("openai-chat", "https://api.together.ai/v1"),  # as the together preset
    "fireworks_ai": ("openai-chat", "https://api.fireworks.ai/inference/v1"),
    "perplexity": ("openai-chat", "https://api.perplexity.ai"),
    "gemini": ("gemini", "https://generativelanguage.googleapis.com/v1beta"),
}
# LiteLLM provider -> (preset, default base_url), for mode: embedding
EMBEDDING_PROVIDERS = {
    "openai": ("openai-embeddings", OPENAI),
    "hosted_vllm": ("openai-embeddings", None),
    "lm_studio": ("openai-embeddings", "http://localhost:1234/v1"),
    "openai_compatible": ("openai-embeddings", None),
    "ollama": ("ollama-embed", "http://localhost:11434"),
    "cohere": ("cohere-embed", "https://api.cohere.com"),
}
# The key LiteLLM reads for a provider when the entry gives no api_key: as
# llm's key name, and the variable.
PROVIDER_KEYS = {
    "openai": ("openai", "OPENAI_API_KEY"),
    "text-completion-openai": ("openai", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "ANTHROPIC_API_KEY"),
    "gemini": ("gemini", "GEMINI_API_KEY"),
    "cohere": ("cohere", "COHERE_API_KEY"),
}
# What a preset calls LiteLLM's params (None: its API has no such setting).
OPTION_NAMES = {
    "anthropic-messages": {"stop": "stop_sequences", "seed": None},
    "gemini": {"stop": "stop_sequences", "max_tokens": "max_output_tokens", "seed": None},
    "ollama-chat": {"max_tokens": "num_predict"},
}
STOP_LISTS = {"anthropic-messages", "gemini", "ollama-chat"}  # their stop takes a list
# LiteLLM params that become an option's default (sent with every prompt).
FIXED = {
    "temperature": "number",
    "max_tokens": "integer",
    "top_p": "number",
    "seed": "integer",
    "stop": "string",
}


class Converted:
    """One model of the output: its keys in order, and comments."""

    def __init__(self, model_id: str, where: str):
        self.model_id = model_id
        self.where = where
        self.keys: dict = {"model_id": model_id}
        self.notes: list[str] = []
        self.dropped: str | None = None  # why the whole model was left out
        self.kind = "chat"  # or "embedding"
        self.made: set[str] = set()  # where a value expands on purpose: "backend.base_url"
        self.weight: int | float | None = None  # its share, as a deployment

    def note(self, text: str) -> None:
        self.notes.append(text)

    def drop(self, why: str) -> Converted:
        self.dropped = why
        return self


def has_preset(name: str) -> bool:
    return (PRESETS / f"{name}.yaml").is_file()


# -- reading -------------------------------------------------------------------


def convert_file(
    path: str, registered: dict[str, set[str]], declared: dict[str, dict[str, str]]
) -> str:
    """The model file for ``path``, as text. ``registered``: per kind
    (``chat``, ``embedding``), names llm and other plugins have, which the
    output shadows knowingly (``replace``); ``declared``: per kind, names
    model files on the search path hold -> where."""
    data = _read(path)
    if isinstance(data, dict) and isinstance(data.get("model_list"), list):
        kind, models, extra = "a LiteLLM config.yaml", _litellm(data), _litellm_rest(data)
    elif isinstance(data, list):
        kind, models, extra = "an extra-openai-models.yaml", _extra_openai(data), []
    else:
        raise ConversionError(
            f"{path}: expected llm's extra-openai-models.yaml (a list of models) "
            "or a LiteLLM config.yaml (a mapping with model_list)"
        )
    for model in models:
        _keep_literal(model)
    _settle(models, registered, declared)
    if kind.startswith("a LiteLLM"):
        extra += _litellm_fallbacks(data, models, registered.get("chat", set()))
    return render(path, kind, models, extra)


def _read(path: str):
    """The file's plain value, parsed as model files are: within their
    limits, so that an alias bomb is refused before it is expanded."""
    from ..errors import ConfigError
    from ..loading.source import MAX_FILE_BYTES, parse

    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConversionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConversionError(f"{path}: larger than 1 MiB, the limit of a model file")
    try:
        return parse(path, raw.decode("utf-8")).value
    except UnicodeDecodeError:
        raise ConversionError(f"{path}: not UTF-8 text") from None
    except ConfigError as exc:
        problem = exc.problems[0]
        message = problem.message.replace("YAML syntax error: ", "not YAML: ", 1)
        raise ConversionError(str(problem._replace(message=message))) from None


def _keep_literal(model: Converted) -> None:
    """Text the original tool sent as written must not become a template
    here: a backend value that ``${VAR}`` or ``{{ name }}`` expansion would
    change drops the model (a header, just the header), unless the import
    made it so on purpose (LiteLLM's ``os.environ/VAR``)."""
    if model.dropped:
        return
    for where, value in _strings(model.keys.get("backend", {}), "backend"):
        if where not in model.made and expands(value):
            model.drop(f"{where} {value!r} would be filled in here ({EXPANDS})")
            return


def _strings(value, where: str):
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{where}[{i}]")


EXPANDS = (
    "'${VAR}' and '{{ name }}' are templates in a model file; the original sent them as written"
)


def expands(text: str) -> bool:
    """Whether a model file would fill in part of ``text``."""
    from ..templates import ENV_REF, PLACEHOLDER

    return bool(ENV_REF.search(text) or PLACEHOLDER.search(text))


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


# -- extra-openai-models.yaml ------------------------------------------------


def _extra_openai(items: list) -> list[Converted]:
    out = []
    for i, item in enumerate(items):
        where = f"entry {i + 1}"
        if not isinstance(item, dict) or not _text(item.get("model_id")):
            out.append(Converted("?", where).drop("it has no model_id"))
            continue
        out.append(_one_extra(item, where))
    return out


def _one_extra(item: dict, where: str) -> Converted:
    model = Converted(item["model_id"], where)
    preset = _extra_preset(item, model)
    if preset is None:
        return model
    api_base = _text(item.get("api_base"))
    backend = {"type": "http", "preset": preset, "base_url": api_base or OPENAI}
    backend["model_name"] = _text(item.get("model_name")) or item["model_id"]
    if isinstance(item.get("headers"), dict):
        headers = _literal_headers(item["headers"], model)
        if headers:
            backend["headers"] = headers
    if preset == "azure-openai":
        _azure(item, backend, model)
    _aliases(item.get("aliases"), model)
    model.keys["backend"] = backend
    _extra_key(item, api_base, model)
    _extra_flags(item, model)
    return model


def _literal_headers(headers: dict, model: Converted) -> dict:
    """llm sends headers as written; here ``{{ }}`` and ``${}`` would be
    filled in (with the environment's secrets): such a header is dropped."""
    out = {}
    for name, value in headers.items():
        if expands(str(value)):
            model.note(
                f"headers.{name} dropped: its value holds '{{{{' or '${{', which a model "
                "file fills in (llm sends it as written)"
            )
            continue
        out[str(name)] = str(value)
    return out


def _extra_preset(item: dict, model: Converted) -> str | None:
    """The preset for llm's model class, if this installation has it."""
    wanted = [
        ("api_type", "azure-openai", "api_type: azure"),
        ("completion", "openai-completions", "completion: true"),
        ("responses", "openai-responses", "responses: true"),
    ]
    for key, preset, label in wanted:
        if item.get(key) and not (key == "api_type" and item[key] != "azure"):
            if has_preset(preset):
                return preset
            model.drop(f"{label} needs the {preset} preset, which this installation lacks")
            return None
    if item.get("api_type"):
        model.drop(f"api_type: {item['api_type']} has no preset")
        return None
    return "openai-chat"


def _azure(item: dict, backend: dict, model: Converted) -> None:
    if _text(item.get("api_engine")):
        backend["model_name"] = item["api_engine"]
    if _text(item.get("api_version")):
        backend["api_version"] = item["api_version"]
    model.note("azure: check base_url, the deployment (model_name) and api-version")


def _aliases(aliases, model: Converted) -> None:
    if isinstance(aliases, str):
        model.note(f"aliases was the string {aliases!r}: llm makes one alias per character")
        aliases = [aliases]
    if isinstance(aliases, list):
        good = [a for a in aliases if isinstance(a, str) and NAME.match(a) and a.isprintable()]
        for bad in (a for a in aliases if a not in good):
            model.note(f"alias {bad!r} dropped: not a name llm -m can take")
        good = [a for a in dict.fromkeys(good) if a != model.model_id]
        if good:
            model.keys["aliases"] = good


def _extra_key(item: dict, api_base: str | None, model: Converted) -> None:
    name = _text(item.get("api_key_name"))
    if name:
        model.keys["key"] = {"name": name}
        model.note(
            f"key: llm would fall back to $OPENAI_API_KEY for '{name}'; "
            "add env: OPENAI_API_KEY to key to do the same"
        )
    elif not api_base:
        model.keys["key"] = {"name": "openai", "env": "OPENAI_API_KEY"}


def _extra_flags(item: dict, model: Converted) -> None:
    if item.get("can_stream") is False:
        model.keys["can_stream"] = False
    for flag in ("supports_tools", "supports_schema"):
        if item.get(flag) is True:
            model.keys[flag] = True
    types = (VISION if item.get("vision") else []) + (AUDIO if item.get("audio") else [])
    if types:
        model.keys["attachment_types"] = types
    # reasoning: true needs nothing: the presets read reasoning and have
    # reasoning_effort (llm's one reasoning option) among their standard options.
    known = {
        "model_id", "model_name", "api_base", "api_key_name", "headers", "aliases",
        "can_stream", "supports_tools", "supports_schema", "vision", "audio", "completion",
        "responses", "reasoning", "api_type", "api_version", "api_engine",
    }  # fmt: skip
    for key in item:
        if key not in known:
            model.note(f"{key} dropped: not converted")


# -- LiteLLM config.yaml ---------------------------------------------------------


def _litellm(data: dict) -> list[Converted]:
    """One model per ``model_name``: several entries of one name are its
    deployments (load balancing), as LiteLLM's router treats them."""
    out: list[Converted | str] = []
    groups: dict[str, list[Converted]] = {}
    for i, item in enumerate(data["model_list"]):
        where = f"model_list[{i}]"
        if not isinstance(item, dict) or not _text(item.get("model_name")):
            out.append(Converted("?", where).drop("it has no model_name"))
            continue
        name = item["model_name"]
        if name not in groups:
            groups[name] = []
            out.append(name)
        groups[name].append(_one_litellm(item, where))
    return [_replicas(groups[m]) if isinstance(m, str) else m for m in out]


def _one_litellm(item: dict, where: str) -> Converted:
    model = Converted(item["model_name"], where)
    params = item.get("litellm_params")
    if not isinstance(params, dict) or not _text(params.get("model")):
        return model.drop("it has no litellm_params.model")
    _model_info(item.get("model_info"), model)
    provider, _, name = params["model"].partition("/")
    if not name:
        provider, name = "openai", params["model"]
    table = EMBEDDING_PROVIDERS if model.kind == "embedding" else PROVIDERS
    preset, base = table.get(provider, (None, None))
    kind = "embedding " if model.kind == "embedding" else ""
    if preset is None:
        return model.drop(f"provider '{provider}' has no {kind}preset")
    if not has_preset(preset):
        return model.drop(f"provider '{provider}' needs the {preset} preset, which is missing")
    base = _litellm_base(_text(params.get("api_base")), preset, base, model)
    if base is None and not model.dropped:
        model.drop(f"provider '{provider}' needs api_base")
    if model.dropped:
        return model
    if provider == "ollama" and model.kind == "chat":
        model.note("ollama/ (LiteLLM's /api/generate) became ollama-chat (/api/chat)")
    backend = {"type": "http", "preset": preset, "base_url": base, "model_name": name}
    model.keys["backend"] = backend
    _litellm_params(params, backend, model, preset)
    if "api_key" not in params and provider in PROVIDER_KEYS:
        key, env = PROVIDER_KEYS[provider]
        model.keys["key"] = {"name": key, "env": env}  # where LiteLLM looks for it
    for key in item:
        if key not in ("model_name", "litellm_params", "model_info"):
            model.note(f"{key} dropped: not converted")
    return model


def _model_info(info, model: Converted) -> None:
    """``mode: embedding`` makes an embedding model; the rest is LiteLLM's bookkeeping."""
    if not isinstance(info, dict):
        return
    if info.get("mode") == "embedding":
        model.kind = "embedding"
    for key in info:
        if not (key == "mode" and info[key] in ("embedding", "chat")):
            model.note(f"model_info.{key} dropped: not converted")


def _litellm_base(
    api_base: str | None, preset: str, default: str | None, model: Converted
) -> str | None:
    """The base URL: LiteLLM's ``os.environ/VAR`` is read at each request, as
    LiteLLM reads it (so the output validates with VAR unset)."""
    if api_base and api_base.startswith("os.environ/"):
        var = api_base.removeprefix("os.environ/")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            model.drop(f"api_base {api_base!r} names no environment variable")
            return None
        api_base = "{{ env." + var + " }}"
        model.made.add("backend.base_url")
    if api_base and preset == "anthropic-messages" and not api_base.rstrip("/").endswith("/v1"):
        api_base = api_base.rstrip("/") + "/v1"  # LiteLLM's api_base is the host; ours has /v1
    return api_base or default


def _litellm_params(params: dict, backend: dict, model: Converted, preset: str) -> None:
    options = {}
    for key, value in params.items():
        if key in ("model", "api_base"):
            continue
        if key == "api_key":
            _litellm_key(value, model)
        elif key == "timeout" and isinstance(value, int | float) and 0 < value <= 86400:
            backend["timeout"] = value
        elif key == "max_retries" and isinstance(value, int) and 0 <= value <= 10:
            backend["retries"] = value
        elif key == "api_version" and isinstance(value, str) and "os.environ/" not in value:
            backend["api_version"] = value
        elif key in ("rpm", "tpm") and _positive(value) and model.kind == "chat":
            model.keys.setdefault("limits", {})[key] = value
        elif key == "weight" and type(value) in (int, float) and 0 < value <= 1_000_000:
            model.weight = value
        elif key in FIXED and model.kind == "chat" and _option(key, value, preset, options):
            pass
        else:
            model.note(f"litellm_params.{key} dropped: not converted")
    if options:
        model.keys["options"] = options


def _positive(value) -> bool:
    return type(value) is int and value >= 1


def _option(key: str, value, preset: str, options: dict) -> bool:
    """``value`` as the default of the option ``preset`` calls ``key``, if it
    has one and the value fits."""
    name = OPTION_NAMES.get(preset, {}).get(key, key)
    if name is None:
        return False
    if key == "stop":
        stops = [value] if isinstance(value, str) else value
        if not (isinstance(stops, list) and stops and all(isinstance(s, str) for s in stops)):
            return False
        if isinstance(value, str) and preset not in STOP_LISTS:
            options[name] = {"type": "string", "default": value}
        else:
            options[name] = {"type": "array", "items": {"type": "string"}, "default": stops}
        return True
    if not _fits(value, FIXED[key]):
        return False
    options[name] = {"type": FIXED[key], "default": value}
    return True


def _fits(value, kind: str) -> bool:
    if kind == "number":
        return type(value) in (int, float)
    return type(value) is {"integer": int, "string": str}[kind]


def _litellm_key(value, model: Converted) -> None:
    if isinstance(value, str) and value.startswith("os.environ/"):
        var = value.removeprefix("os.environ/")
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            model.keys["key"] = {"name": var.lower(), "env": var}
            return
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", model.model_id).lstrip("-") or "imported"
    model.keys["key"] = {"name": name}
    model.note(f"api_key is not copied here: store it with 'llm keys set {name}'")


# -- several entries of one model_name: deployments --------------------------------


def _replicas(replicas: list[Converted]) -> Converted:
    """The entries of one ``model_name`` as one model. Entries on the first
    one's API become its deployments; the rest are comments."""
    first, others = replicas[0], replicas[1:]
    for replica in others:
        for note in replica.notes:
            first.note(f"{replica.where}: {note}")
    if first.dropped or not others:
        if first.weight is not None and not others:
            first.note("litellm_params.weight dropped: one deployment")
        return first
    same = []
    for replica in others:
        why = replica.dropped or _not_a_deployment(first, replica)
        if why:
            first.note(f"{replica.where} dropped: {why}")
            continue
        same.append(replica)
        ours, theirs = _shared(first), _shared(replica)
        differ = [k for k in dict.fromkeys([*ours, *theirs]) if ours.get(k) != theirs.get(k)]
        if differ:
            first.note(
                f"{replica.where}: its {', '.join(differ)} differ from {first.where}'s, "
                "whose apply to every deployment"
            )
    if same:
        _as_deployments(first, [first, *same])
    return first


def _not_a_deployment(first: Converted, other: Converted) -> str | None:
    """Why ``other`` cannot be a deployment of ``first``: a deployment is
    another server of the same API."""
    if first.kind != other.kind:
        return f"'{first.model_id}' is a {first.kind} model, and this entry an {other.kind} one"
    if first.kind == "embedding":
        return f"another server of '{first.model_id}': an embedding model has one"
    ours, theirs = first.keys["backend"]["preset"], other.keys["backend"]["preset"]
    if ours != theirs:
        return f"another server of '{first.model_id}', on the {theirs} API, not {ours}"
    return None


def _shared(model: Converted) -> dict:
    """What the deployments of one model have in common: all but where it is,
    what that server calls it, its key, weight and limits."""
    backend = model.keys["backend"]
    shared = {k: v for k, v in backend.items() if k not in ("base_url", "model_name")}
    return {**shared, "options": model.keys.get("options")}


def _as_deployments(model: Converted, replicas: list[Converted]) -> None:
    backend = model.keys["backend"]
    keys = [r.keys.get("key") for r in replicas]
    shared_key = all(k == keys[0] for k in keys)  # else each its own, or none
    deployments = []
    for i, replica in enumerate(replicas):
        deployment = {"base_url": replica.keys["backend"]["base_url"]}
        if replica.keys["backend"]["model_name"] != backend["model_name"]:
            deployment["model_name"] = replica.keys["backend"]["model_name"]
        if not shared_key and replica.keys.get("key"):
            deployment["key"] = replica.keys["key"]
        if replica.weight is not None:
            deployment["weight"] = replica.weight
        if replica.keys.get("limits"):
            deployment["limits"] = replica.keys["limits"]
        deployments.append(deployment)
        if "backend.base_url" in replica.made:
            model.made.add(f"backend.deployments[{i}].base_url")
    del backend["base_url"]
    backend["deployments"] = deployments
    model.keys.pop("limits", None)
    if not shared_key:
        model.keys.pop("key", None)


# -- router_settings.fallbacks --------------------------------------------------------


def _litellm_fallbacks(data: dict, models: list[Converted], registered: set[str]) -> list[str]:
    """``router_settings.fallbacks`` ({name: [names]} items) as ``fallbacks``
    of the models that kept their names; one that names no chat model here
    or that leads back to its model is a comment. Returns notes for what
    else router_settings held."""
    router = data.get("router_settings")
    if not isinstance(router, dict):
        return [] if router is None else ["router_settings: not converted"]
    chat = {m.model_id: m for m in models if not m.dropped and m.kind == "chat"}
    for item in router.get("fallbacks") or []:
        for source, targets in item.items() if isinstance(item, dict) else ():
            model = chat.get(source)
            if model is None:
                continue
            for target in targets if isinstance(targets, list) else [targets]:
                _fallback(model, target, chat, registered)
    return [f"router_settings.{key}: not converted" for key in router if key != "fallbacks"]


def _fallback(model: Converted, target, chat: dict, registered: set[str]) -> None:
    held = model.keys.setdefault("fallbacks", [])
    if not isinstance(target, str) or (target not in chat and target not in registered):
        model.note(f"fallback {target!r} dropped: no chat model of that name here")
    elif target == model.model_id or model.model_id in _reachable(target, chat):
        model.note(f"fallback '{target}' dropped: it leads back to this model")
    elif target not in held:
        held.append(target)
    if not held:
        del model.keys["fallbacks"]


def _reachable(start: str, chat: dict) -> set[str]:
    seen, todo = set(), [start]
    while todo:  # each name once: bounded by the models
        name = todo.pop()
        if name in seen or name not in chat:
            continue
        seen.add(name)
        todo += chat[name].keys.get("fallbacks", [])
    return seen


def _litellm_rest(data: dict) -> list[str]:
    return [f"{key}: not converted" for key in data if key not in ("model_list", "router_settings")]


# -- names: what the output may take -------------------------------------------


def _settle(
    models: list[Converted], registered: dict[str, set[str]], declared: dict[str, dict[str, str]]
) -> None:
    """Names the output could not load with: one llm -m cannot take drops
    the model, one a model file or this output holds drops it (or the
    alias), one llm has is shadowed knowingly with ``replace: true``. Chat
    and embedding models have names of their own, as in llm."""
    helds = {kind: dict(declared.get(kind, {})) for kind in ("chat", "embedding")}
    for model in models:
        if model.dropped:
            continue
        held, taken_names = helds[model.kind], registered.get(model.kind, set())
        if not (NAME.match(model.model_id) and model.model_id.isprintable()):
            model.drop(f"{model.model_id!r} is not a name llm -m can take")
            continue
        if model.model_id in held:
            model.drop(f"'{model.model_id}' is declared {held[model.model_id]}")
            continue
        aliases = model.keys.get("aliases", [])
        for alias in [a for a in aliases if a in held]:
            model.note(f"alias '{alias}' dropped: declared {held[alias]}")
        kept = [a for a in aliases if a not in held]
        if kept:
            model.keys["aliases"] = kept
        else:
            model.keys.pop("aliases", None)
        names = [model.model_id, *kept]
        taken = [n for n in names if n in taken_names]
        if taken:
            model.keys["replace"] = True
            model.note(f"replace: llm already has {', '.join(map(repr, taken))}")
        held.update(dict.fromkeys(names, "earlier in this file"))


# -- writing ---------------------------------------------------------------------


def render(path: str, kind: str, models: list[Converted], extra: list[str]) -> str:
    lines = [_comment(f"Converted by 'llm yaml-models import' from {kind}: {path}")]
    lines += [_comment(f"dropped: {note}") for note in extra]
    for section, heading in (("chat", "models"), ("embedding", "embedding_models")):
        mine = [m for m in models if m.kind == section]
        if section == "embedding" and not mine:
            continue
        lines.append(f"{heading}:" if any(not m.dropped for m in mine) else f"{heading}: []")
        for model in mine:
            if model.dropped:
                why = f"{model.where}: '{model.model_id}' dropped: {model.dropped}"
                lines.append(_comment(why, 2))
            else:
                lines += _model_lines(model)
    return "\n".join(lines) + "\n"


def _model_lines(model: Converted) -> list[str]:
    out = []
    for n, (key, value) in enumerate(model.keys.items()):
        lead = "  - " if n == 0 else "    "
        if isinstance(value, dict) and value and key in ("backend", "options"):
            out.append(f"{lead}{key}:")
            for name, item in value.items():
                if name == "deployments":  # one line each
                    out.append(f"      {name}:")
                    out += [f"        - {_value(deployment)}" for deployment in item]
                else:
                    out.append(f"      {_key(name)}: {_value(item)}")
        else:
            out.append(f"{lead}{key}: {_value(value)}")
    out += [_comment(note, 4) for note in model.notes]
    return out


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else json.dumps(key)


# Characters JSON leaves as they are but YAML reads as line breaks or
# refuses (NEL, the line and paragraph separators, BOM, C1 controls).
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def _value(value) -> str:
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value  # a plain scalar YAML reads back as this string
    text = json.dumps(value, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _comment(text: str, indent: int = 0) -> str:
    return " " * indent + "# " + printable(text)
