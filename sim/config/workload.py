"""The ``workload`` section: one of the workload kinds, told apart by ``kind``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from sim.config.names import CollectiveAlgorithm
from sim.config.section import Section

__all__ = [
    "WORKLOAD_KINDS",
    "CollectiveWorkload",
    "ModelSpec",
    "NormLinearWorkload",
    "TransformerWorkload",
]


class NormLinearWorkload(Section):
    """A normalization (RMSNorm or LayerNorm) followed by one linear layer.

    ``tokens`` input vectors of ``hidden_size`` elements are normalized and
    multiplied by a ``hidden_size x out_features`` weight matrix.
    """

    kind: Literal["norm_linear"]
    norm: Literal["rmsnorm", "layernorm"] = "rmsnorm"
    hidden_size: int = Field(gt=0, description="Elements per token vector.")
    out_features: int = Field(gt=0, description="Output features of the linear layer.")
    tokens: int = Field(1, gt=0, description="Token vectors processed together.")
    bias: bool = Field(False, description="Whether the linear layer adds a bias.")


class CollectiveWorkload(Section):
    """One collective over the interconnect, alone (no compute besides combines)."""

    kind: Literal["collective"]
    op: Literal["reduce", "broadcast", "all_reduce", "all_gather"]
    algorithm: CollectiveAlgorithm = "ring"
    bytes: int = Field(gt=0, description="Bytes per participant's contribution.")
    participants: Literal["all"] | Annotated[list[int], Field(min_length=1)] = Field(
        "all", description="'all' cores, or a non-empty list of core ids."
    )
    root: int | None = Field(None, description="Root core (default: the first participant).")
    reduce_op: Literal["sum", "max"] = "sum"
    arity: int = Field(2, gt=0, description="Children per node of the tree algorithm.")


class ModelSpec(Section):
    """A decoder-only, pre-norm transformer's shape (a preset in ``workloads/``, a
    Hugging Face ``config.json`` read by `sim.config.hf_import`, or inline).

    ``activation``: ``relu`` and ``gelu`` (tanh form) act on one ``ffn_size``
    projection; ``swiglu`` (SiLU-gated) and ``geglu`` (GELU-gated, Gemma) are
    gated: the up projection is ``2 · ffn_size`` wide, gate and up halves.
    """

    name: str = Field("custom", description="Label used in reports.")
    hidden_size: int = Field(gt=0, description="Model width d.")
    num_heads: int = Field(gt=0, description="Query heads H; head size is d / H.")
    num_kv_heads: int = Field(gt=0, description="Key/value heads (GQA when fewer than H).")
    ffn_size: int = Field(gt=0, description="Feed-forward inner width.")
    activation: Literal["gelu", "relu", "swiglu", "geglu"]
    norm: Literal["rmsnorm", "layernorm"]
    norm_eps: float = Field(1e-5, gt=0, allow_inf_nan=False,
                            description="ε of the normalizations.")
    num_layers: int = Field(gt=0, description="Decoder blocks in the model.")
    vocab_size: int = Field(gt=0, description="Vocabulary (not simulated; for weight totals).")
    bias: bool = Field(False, description="Whether the linear layers carry biases.")
    qkv_bias: bool | None = Field(
        None, description="Whether the QKV projection carries a bias (default: bias; "
        "Qwen2 has it alone).")

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelSpec:
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"num_heads ({self.num_heads}) must divide hidden_size ({self.hidden_size})"
            )
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_kv_heads ({self.num_kv_heads}) must divide num_heads ({self.num_heads})"
            )
        return self

    @property
    def head_size(self) -> int:
        """Elements per attention head."""
        return self.hidden_size // self.num_heads

    @property
    def gated_ffn(self) -> bool:
        """Whether the FFN's up projection holds a gate and an up half (2 · ffn_size)."""
        return self.activation in ("swiglu", "geglu")

    @property
    def has_qkv_bias(self) -> bool:
        """Whether the QKV projection adds a bias (``qkv_bias``, default ``bias``)."""
        return self.bias if self.qkv_bias is None else self.qkv_bias


class TransformerWorkload(Section):
    """Decoder blocks of a model in one phase.

    ``prefill``: ``batch`` sequences of ``seq_len`` tokens attend causally to
    themselves. ``decode``: ``batch`` sequences add one token each, attending to
    ``kv_len`` cached tokens plus itself.
    """

    kind: Literal["transformer"]
    model: ModelSpec = Field(
        description="A preset name from workloads/ (e.g. llama-3-8b), a path to a Hugging "
        "Face config.json (relative to the YAML file's folder), or an inline model."
    )
    phase: Literal["prefill", "decode"] = "decode"
    batch: int = Field(1, gt=0, description="Sequences processed together.")
    seq_len: int = Field(128, gt=0, description="Prompt tokens per sequence (prefill).")
    kv_len: int = Field(1024, ge=0, description="Cached tokens per sequence (decode).")
    layers: int | None = Field(
        None, gt=0, description="Decoder blocks to simulate (default: all of the model's)."
    )
    weight_bits: int = Field(
        8, gt=0, le=64,
        description="Bits per stored weight (8: block floating point, 8-bit significands)."
    )
    activation_bits: int = Field(16, gt=0, le=64,
                                 description="Bits per activation element on the wire.")
    whole_model: bool = Field(
        False,
        description="Add the ops of a whole per-token step around the decoder blocks: token "
        "ids in over the host link, the embedding lookup (from LPDDR), a KV-cache append in "
        "every block, the final norm, the LM head (hidden_size x vocab_size), sampling and "
        "the sampled ids out (README, Timing model: Whole-model ops).",
    )
    sampling: Literal["argmax", "top_k"] = Field(
        "argmax",
        description="How the next token is picked from the LM head's logits (whole_model): "
        "argmax, or top_k (the top_k best candidates, then a draw among them).",
    )
    top_k: int = Field(
        1, gt=0,
        description="Candidates kept by top_k sampling (whole_model, sampling: top_k); at "
        "most the model's vocab_size.",
    )

    kv_resident_batch: int | None = Field(
        None, gt=0,
        description="Sequences whose KV cache stays resident (at least the batch; default: the "
        "batch). A serving run sets it to the whole batch while it simulates one micro-batch, "
        "so that memory placement sees every sequence's cache; a step streams only its own.",
    )

    @field_validator("kv_resident_batch")
    @classmethod
    def _at_least_batch(cls, resident: int | None, info: ValidationInfo) -> int | None:
        """Fewer resident caches than sequences would drop caches still in use."""
        batch = info.data.get("batch")
        if resident is not None and isinstance(batch, int) and resident < batch:
            raise ValueError(f"must be >= workload.batch {batch}, got {resident}")
        return resident

    @field_validator("layers")
    @classmethod
    def _within_model(cls, layers: int | None, info: ValidationInfo) -> int | None:
        """More blocks than the model has would simulate a model that does not exist."""
        model = info.data.get("model")
        if layers is not None and isinstance(model, ModelSpec) and layers > model.num_layers:
            raise ValueError(f"must be <= the model's num_layers {model.num_layers}, "
                             f"got {layers}")
        return layers

    @field_validator("top_k")
    @classmethod
    def _within_vocabulary(cls, top_k: int, info: ValidationInfo) -> int:
        """More candidates than the vocabulary has cannot be kept."""
        model = info.data.get("model")
        if isinstance(model, ModelSpec) and top_k > model.vocab_size:
            raise ValueError(f"must be <= the model's vocab_size {model.vocab_size}, "
                             f"got {top_k}")
        return top_k

    @property
    def candidates(self) -> int:
        """Candidates per token that sampling keeps: 1 (argmax) or ``top_k``."""
        return self.top_k if self.sampling == "top_k" else 1


#: The workload models by their ``kind`` tag.
WORKLOAD_KINDS: dict[str, type[BaseModel]] = {
    "norm_linear": NormLinearWorkload,
    "transformer": TransformerWorkload,
    "collective": CollectiveWorkload,
}
