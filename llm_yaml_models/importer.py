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
from pathlib import Path

from .errors import printable

PRESETS = Path(__file__).resolve().parent / "presets"
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
    "together_ai": ("openai-chat", "https://api.together.xyz/v1"),
    "fireworks_ai": ("openai-chat", "https://api.fireworks.ai/inference/v1"),
    "perplexity": ("openai-chat", "https://api.perplexity.ai"),
}
# LiteLLM params that become an option's default (sent with every prompt).
FIXED = {
    "temperature": "number",
    "max_tokens": "integer",
    "top_p": "number",
    "seed": "integer",
    "stop": "string",
}


class ImportError_(Exception):  # noqa: N801 - not the builtin ImportError
    """The file cannot be read as either format; one line."""


class Converted:
    """One model of the output: its keys in order, and comments."""

    def __init__(self, model_id: str, where: str):
        self.model_id = model_id
        self.where = where
        self.keys: dict = {"model_id": model_id}
        self.notes: list[str] = []
        self.dropped: str | None = None  # why the whole model was left out

    def note(self, text: str) -> None:
        self.notes.append(text)

    def drop(self, why: str) -> Converted:
        self.dropped = why
        return self


def has_preset(name: str) -> bool:
    return (PRESETS / f"{name}.yaml").is_file()


# -- reading -------------------------------------------------------------------


def convert_file(path: str, registered: set[str], declared: dict[str, str]) -> str:
    """The model file for ``path``, as text. ``registered``: names llm and
    other plugins have, which the output shadows knowingly (``replace``);
    ``declared``: names model files on the search path hold -> where."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ImportError_(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise ImportError_(f"{where}: not YAML: {getattr(exc, 'problem', exc)}") from None
    except UnicodeDecodeError:
        raise ImportError_(f"{path}: not UTF-8 text") from None
    if isinstance(data, dict) and isinstance(data.get("model_list"), list):
        kind, models, extra = "a LiteLLM config.yaml", _litellm(data), _litellm_rest(data)
    elif isinstance(data, list):
        kind, models, extra = "an extra-openai-models.yaml", _extra_openai(data), []
    else:
        raise ImportError_(
            f"{path}: expected llm's extra-openai-models.yaml (a list of models) "
            "or a LiteLLM config.yaml (a mapping with model_list)"
        )
    _settle(models, registered, declared)
    return render(path, kind, models, extra)


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
        if "{{" in str(value) or "${" in str(value):
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
    out: list[Converted] = []
    first: dict[str, Converted] = {}
    for i, item in enumerate(data["model_list"]):
        where = f"model_list[{i}]"
        if not isinstance(item, dict) or not _text(item.get("model_name")):
            out.append(Converted("?", where).drop("it has no model_name"))
            continue
        name = item["model_name"]
        if name in first:
            first[name].note(
                f"{where} is another deployment of '{name}' (load balancing): "
                "not converted, one model per name"
            )
            continue
        first[name] = model = _one_litellm(item, where)
        out.append(model)
    return out


def _one_litellm(item: dict, where: str) -> Converted:
    model = Converted(item["model_name"], where)
    params = item.get("litellm_params")
    if not isinstance(params, dict) or not _text(params.get("model")):
        return model.drop("it has no litellm_params.model")
    provider, _, name = params["model"].partition("/")
    if not name:
        provider, name = "openai", params["model"]
    preset, base = PROVIDERS.get(provider, (None, None))
    if preset is None:
        return model.drop(f"provider '{provider}' has no preset")
    if not has_preset(preset):
        return model.drop(f"provider '{provider}' needs the {preset} preset, which is missing")
    api_base = _text(params.get("api_base"))
    if api_base and api_base.startswith("os.environ/"):  # LiteLLM reads it from there
        var = api_base.removeprefix("os.environ/")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            return model.drop(f"api_base {api_base!r} names no environment variable")
        api_base = "${" + var + "}"
    base = _litellm_base(api_base, preset, base)
    if base is None:
        return model.drop(f"provider '{provider}' needs api_base")
    if provider == "ollama":
        model.note("ollama/ (LiteLLM's /api/generate) became ollama-chat (/api/chat)")
    backend = {"type": "http", "preset": preset, "base_url": base, "model_name": name}
    model.keys["backend"] = backend
    _litellm_params(params, backend, model)
    for key in item:
        if key not in ("model_name", "litellm_params"):
            model.note(f"{key} dropped: not converted")
    return model


def _litellm_base(api_base: str | None, preset: str, default: str | None) -> str | None:
    if api_base and preset == "anthropic-messages" and not api_base.rstrip("/").endswith("/v1"):
        return api_base.rstrip("/") + "/v1"  # LiteLLM's api_base is the host; ours has /v1
    return api_base or default


def _litellm_params(params: dict, backend: dict, model: Converted) -> None:
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
        elif key == "api_version" and isinstance(value, str):
            backend["api_version"] = value
        elif key in FIXED and _fits(value, FIXED[key]):
            options[key] = {"type": FIXED[key], "default": value}
        else:
            model.note(f"litellm_params.{key} dropped: not converted")
    if options:
        model.keys["options"] = options


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


def _litellm_rest(data: dict) -> list[str]:
    return [f"{key}: not converted" for key in data if key != "model_list"]


# -- names: what the output may take -------------------------------------------


def _settle(models: list[Converted], registered: set[str], declared: dict[str, str]) -> None:
    """Names the output could not load with: one llm -m cannot take drops
    the model, one a model file or this output holds drops it (or the
    alias), one llm has is shadowed knowingly with ``replace: true``."""
    held = dict(declared)
    for model in models:
        if model.dropped:
            continue
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
        taken = [n for n in names if n in registered]
        if taken:
            model.keys["replace"] = True
            model.note(f"replace: llm already has {', '.join(map(repr, taken))}")
        held.update(dict.fromkeys(names, "earlier in this file"))


# -- writing ---------------------------------------------------------------------


def render(path: str, kind: str, models: list[Converted], extra: list[str]) -> str:
    lines = [_comment(f"Converted by 'llm yaml-models import' from {kind}: {path}")]
    lines += [_comment(f"dropped: {note}") for note in extra]
    kept = [m for m in models if not m.dropped]
    lines.append("models:" if kept else "models: []")
    for model in models:
        if model.dropped:
            lines.append(_comment(f"{model.where}: '{model.model_id}' dropped: {model.dropped}", 2))
            continue
        lines += _model_lines(model)
    return "\n".join(lines) + "\n"


def _model_lines(model: Converted) -> list[str]:
    out = []
    for n, (key, value) in enumerate(model.keys.items()):
        lead = "  - " if n == 0 else "    "
        if isinstance(value, dict) and value and key in ("backend", "options"):
            out.append(f"{lead}{key}:")
            out += [f"      {_key(k)}: {_value(v)}" for k, v in value.items()]
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
