"""Model shapes from a Hugging Face ``config.json`` (``workload.model: path/config.json``).

`model_from_hf_config` reads a local file (never the network) and returns the
`ModelSpec` mapping it describes. Families, by the file's ``model_type``
(`HF_FAMILIES`):

========== ======================================================== ==========================
family     fields read                                              norm, activation, biases
========== ======================================================== ==========================
llama      hidden_size, num_attention_heads, num_key_value_heads,   RMSNorm (rms_norm_eps),
mistral    intermediate_size, num_hidden_layers, vocab_size,        SwiGLU (hidden_act silu);
qwen2      head_dim (must be hidden_size / heads)                   Qwen2: QKV bias only
gemma      as llama                                                 RMSNorm, GeGLU
                                                                    (hidden_activation gelu*)
gpt2       n_embd, n_head, n_inner (null: 4 · n_embd), n_layer,     LayerNorm
           vocab_size, layer_norm_epsilon, activation_function      (layer_norm_epsilon),
                                                                    GELU, biases
opt        hidden_size, num_attention_heads, ffn_dim,               LayerNorm (ε 1e-5, fixed
           num_hidden_layers, vocab_size, activation_function,      in OPT), ReLU, enable_bias
           enable_bias
========== ======================================================== ==========================

Modelling assumptions: every family is read as a pre-norm decoder with
multi-head or grouped-query attention of head size ``hidden_size / heads``;
what imcsim does not model but leaves shapes alone (dropout, positional
encodings and RoPE parameters, token ids, context length, dtype, tied
embeddings) is read and ignored. A field that would change the model in a way
imcsim cannot represent (a post-norm OPT, a sliding window, a head size other
than ``hidden_size / heads``, an unknown activation, a field the family does not
know) is a one-line `ConfigError` naming the file and the field. The model's
``name`` is the folder holding the file (``examples/hf/llama-3-8b/config.json``
is ``llama-3-8b``).

Examples
--------
>>> import json, pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "tiny"
>>> folder.mkdir()
>>> _ = (folder / "config.json").write_text(json.dumps({
...     "model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
...     "num_key_value_heads": 2, "intermediate_size": 128, "num_hidden_layers": 2,
...     "vocab_size": 100, "rms_norm_eps": 1e-6, "hidden_act": "silu"}))
>>> spec = model_from_hf_config(folder / "config.json")
>>> spec["name"], spec["num_kv_heads"], spec["activation"], spec["norm_eps"]
('tiny', 2, 'swiglu', 1e-06)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.config.presets import presets_root
from sim.errors import ConfigError
from sim.registry import Registry

__all__ = ["HF_FAMILIES", "HFFamily", "find_hf_config", "model_from_hf_config"]

#: Fields of any Hugging Face config that do not change what imcsim models.
_IGNORED = frozenset({
    "_name_or_path", "architectures", "model_type", "torch_dtype", "dtype",
    "transformers_version", "bos_token_id", "eos_token_id", "pad_token_id",
    "initializer_range", "use_cache", "tie_word_embeddings", "max_position_embeddings",
    "rope_theta", "rope_scaling", "attention_dropout", "id2label", "label2id",
    "tokenizer_class", "return_dict", "output_attentions", "output_hidden_states",
    "task_specific_params", "prefix",
})
_LLAMA_IGNORED = frozenset({"pretraining_tp"})
_GPT2_IGNORED = frozenset({
    "n_ctx", "n_positions", "attn_pdrop", "embd_pdrop", "resid_pdrop",
    "summary_activation", "summary_first_dropout", "summary_proj_to_labels",
    "summary_type", "summary_use_proj", "scale_attn_weights",
    "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn",
})
_OPT_IGNORED = frozenset({"activation_dropout", "dropout", "layerdrop", "init_std",
                          "layer_norm_elementwise_affine"})

#: Hugging Face activation names of the (un-gated) GELU: imcsim computes its tanh form.
_GELU_NAMES = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast")


class _Reader:
    """The config's fields, remembering which were read (the rest must be ignorable)."""

    def __init__(self, path: Path, data: Mapping[str, Any]) -> None:
        self.path, self.data = path, data
        self.read: set[str] = set()

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"workload.model: {self.path}: {key}: {problem}")

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.data.get(key, default)

    def positive(self, key: str, default: int | None = None) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(key, f"must be a positive integer, got {value!r}")
        return value

    def eps(self, key: str, default: float | None = None) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.fail(key, f"must be a positive number, got {value!r}")
        return float(value)

    def choice(self, key: str, table: Mapping[str, str], default: str | None = None) -> str:
        value = self.get(key, default)
        if value not in table:
            raise self.fail(key, f"{value!r} is not mapped (imcsim knows {', '.join(table)})")
        return table[value]

    def require(self, key: str, expected: object, why: str) -> None:
        value = self.get(key, expected)
        if value != expected:
            raise self.fail(key, f"{value!r} cannot be mapped: {why}")


@dataclass(frozen=True, slots=True)
class HFFamily:
    """How one ``model_type`` maps: ``read`` returns the ModelSpec fields (it may
    raise for a value it cannot map); ``ignored`` names the fields that need no
    mapping."""

    read: Callable[[_Reader], dict[str, Any]]
    ignored: frozenset[str]


def _head_dim(r: _Reader, hidden: int, heads: int) -> None:
    head_dim = r.get("head_dim")
    if head_dim is not None and head_dim * heads != hidden:
        raise r.fail("head_dim", f"{head_dim!r} cannot be mapped: imcsim's head size is "
                     f"hidden_size / num_attention_heads = {hidden / heads:g}")


def _llama_like(r: _Reader, activation: str = "swiglu") -> dict[str, Any]:
    hidden, heads = r.positive("hidden_size"), r.positive("num_attention_heads")
    _head_dim(r, hidden, heads)
    return {"hidden_size": hidden, "num_heads": heads,
            "num_kv_heads": r.positive("num_key_value_heads", heads),
            "ffn_size": r.positive("intermediate_size"),
            "num_layers": r.positive("num_hidden_layers"),
            "vocab_size": r.positive("vocab_size"),
            "norm": "rmsnorm", "norm_eps": r.eps("rms_norm_eps"), "activation": activation}


def _read_llama(r: _Reader) -> dict[str, Any]:
    r.choice("hidden_act", {"silu": "swiglu"}, "silu")
    spec = _llama_like(r)
    attention, mlp = r.get("attention_bias", False), r.get("mlp_bias", False)
    if attention != mlp:
        raise r.fail("attention_bias", f"{attention!r} with mlp_bias {mlp!r} cannot be "
                     "mapped: imcsim's bias is on every linear or none")
    return {**spec, "bias": bool(attention)}


def _read_mistral(r: _Reader) -> dict[str, Any]:
    r.choice("hidden_act", {"silu": "swiglu"}, "silu")
    r.require("sliding_window", None, "sliding-window attention is not modelled")
    return {**_llama_like(r), "bias": False}


def _read_qwen2(r: _Reader) -> dict[str, Any]:
    r.choice("hidden_act", {"silu": "swiglu"}, "silu")
    r.require("use_sliding_window", False, "sliding-window attention is not modelled")
    r.get("sliding_window")  # unused unless use_sliding_window
    r.get("max_window_layers")
    return {**_llama_like(r), "bias": False, "qkv_bias": True}  # q, k, v biases (Qwen2)


def _read_gemma(r: _Reader) -> dict[str, Any]:
    # transformers reads hidden_activation, falling back to hidden_act
    key = "hidden_activation" if r.data.get("hidden_activation") is not None else "hidden_act"
    r.get("hidden_act")
    r.get("hidden_activation")
    r.choice(key, dict.fromkeys(_GELU_NAMES, "geglu"))
    r.require("attention_bias", False, "imcsim's Gemma has no biases")
    return {**_llama_like(r, "geglu"), "bias": False}


def _read_gpt2(r: _Reader) -> dict[str, Any]:
    hidden, heads = r.positive("n_embd"), r.positive("n_head")
    inner = r.get("n_inner")
    return {"hidden_size": hidden, "num_heads": heads, "num_kv_heads": heads,
            "ffn_size": 4 * hidden if inner is None else r.positive("n_inner"),
            "num_layers": r.positive("n_layer"), "vocab_size": r.positive("vocab_size"),
            "norm": "layernorm", "norm_eps": r.eps("layer_norm_epsilon", 1e-5),
            "activation": r.choice("activation_function", dict.fromkeys(_GELU_NAMES, "gelu"),
                                   "gelu_new"),
            "bias": True}


def _read_opt(r: _Reader) -> dict[str, Any]:
    hidden, heads = r.positive("hidden_size"), r.positive("num_attention_heads")
    r.require("do_layer_norm_before", True, "a post-norm decoder is not modelled")
    r.require("word_embed_proj_dim", hidden, "embedding projections are not modelled")
    r.require("_remove_final_layer_norm", False, "the final norm is not modelled")
    return {"hidden_size": hidden, "num_heads": heads, "num_kv_heads": heads,
            "ffn_size": r.positive("ffn_dim"), "num_layers": r.positive("num_hidden_layers"),
            "vocab_size": r.positive("vocab_size"),
            "norm": "layernorm", "norm_eps": 1e-5,  # OPT's nn.LayerNorm default, no field
            "activation": r.choice("activation_function", {"relu": "relu", "gelu": "gelu"}),
            "bias": bool(r.get("enable_bias", True))}


#: The families by ``model_type`` (module docstring's table).
HF_FAMILIES = Registry[HFFamily]("Hugging Face model_type")
HF_FAMILIES.add("llama", HFFamily(_read_llama, _LLAMA_IGNORED))
HF_FAMILIES.add("mistral", HFFamily(_read_mistral, frozenset()))
HF_FAMILIES.add("qwen2", HFFamily(_read_qwen2, frozenset()))
HF_FAMILIES.add("gemma", HFFamily(_read_gemma, frozenset()))
HF_FAMILIES.add("gpt2", HFFamily(_read_gpt2, _GPT2_IGNORED))
HF_FAMILIES.add("opt", HFFamily(_read_opt, _OPT_IGNORED))


def model_from_hf_config(path: str | Path) -> dict[str, Any]:
    """The `ModelSpec` fields (unvalidated mapping) of the Hugging Face config at ``path``.

    Raises
    ------
    ConfigError
        One line: a missing or unreadable file, JSON that is not an object, an
        unknown ``model_type``, a field the family does not know, or a value it
        cannot map (each names the field).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"workload.model: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"workload.model: {path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"workload.model: {path}: invalid JSON at line {exc.lineno}, "
                          f"column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"workload.model: {path}: must hold a JSON object")
    family = HF_FAMILIES.get(str(data.get("model_type")), key=f"workload.model: {path}: model_type")
    reader = _Reader(path, data)
    spec = family.read(reader)
    unknown = sorted(set(data) - reader.read - _IGNORED - family.ignored)
    if unknown:
        raise reader.fail(unknown[0], "is not a field imcsim maps or ignores for model_type "
                          f"{data['model_type']!r}" + (f" (nor {', '.join(unknown[1:])})"
                                                       if len(unknown) > 1 else ""))
    name = path.resolve().parent.name or str(data["model_type"])
    return {"name": name, **spec}


def find_hf_config(name: str, base_dir: Path | None = None) -> dict[str, Any]:
    """`model_from_hf_config` of ``name``, a path looked up in ``base_dir`` (the
    YAML file's folder, as ``extends:`` does), the working directory, then the
    presets root (where ``examples/hf/`` lives in a checkout); an absolute path as is.

    Raises
    ------
    ConfigError
        If no candidate is a file (naming the places looked in), or as
        `model_from_hf_config`.
    """
    root = presets_root()
    candidates = [d / name for d in (base_dir, Path.cwd(), root) if d is not None]
    for candidate in candidates:
        if candidate.is_file():
            return model_from_hf_config(candidate)
    places = ", ".join(str(d) for d in (base_dir, Path.cwd(), root) if d is not None)
    raise ConfigError(f"workload.model: cannot find {name!r} (looked in {places})")
