"""Serving: a batch pipelined through the layer groups in micro-batches
(``schedule.pipeline``), and what it yields: token interval, latency per token,
tokens per second, bubble fraction (`serve`; the model in `sim.serving.pipeline`)."""

from sim.serving.pipeline import PipelinePass, flow_shop, steady_decode_cycles
from sim.serving.serve import SERVING_MODES, ServingResult, is_pipelined, micro_batch_sizes, serve

__all__ = ["SERVING_MODES", "PipelinePass", "ServingResult", "flow_shop", "is_pipelined",
           "micro_batch_sizes", "serve", "steady_decode_cycles"]
