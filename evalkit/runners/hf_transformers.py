"""A reference runner on `transformers` (AutoModelForCausalLM.generate), one request at a time.

For unquantized checkpoints (e.g. the bf16 original beside its GPTQ version): the point is
an independent implementation of the EXAONE 4 forward and of sampling, not speed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.chat import render_chat
from evalkit.errors import UsageError
from evalkit.fingerprint import fingerprint_dir
from evalkit.kv_planning import KVShape
from evalkit.models import is_tiny, resolve_model
from evalkit.records import ChatRequest, Completion, FinishReason
from evalkit.runners.base import Runner, TokenLogits


class TransformersRunner(Runner):
    name = "transformers"

    def __init__(self, model: str = "tiny-fp32", *, device: str = "auto", dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_name = model
        self.path = resolve_model(model)
        config = json.loads((Path(self.path) / "config.json").read_text())
        if config.get("quantization_config"):
            raise UsageError(
                f"{self.path} is a quantized checkpoint; the transformers reference runner takes "
                "unquantized ones (use RUNNER=torch-int4 for GPTQ)"
            )
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        if dtype == "auto":
            dtype = "float32" if self.device == "cpu" else "bfloat16"
        self.dtype = dtype
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = (
            AutoModelForCausalLM.from_pretrained(
                self.path, dtype=getattr(torch, dtype), attn_implementation="eager"
            )
            .to(self.device)  # type: ignore[arg-type]  # transformers types this decorator wrongly
            .eval()
        )
        self._fingerprint = fingerprint_dir(Path(self.path))

    def describe(self) -> dict[str, object]:
        return {
            "runner": "transformers",
            "model": self.model_name,
            "model_fingerprint": self._fingerprint,
            "dtype": self.dtype,
            "device_type": self.device.split(":")[0],
        }

    @property
    def is_placeholder_model(self) -> bool:
        return is_tiny(self.model_name)

    def render(self, request: ChatRequest) -> str:
        return render_chat(self.tokenizer, request)

    def max_context(self) -> int | None:
        n = getattr(self.model.config, "max_position_embeddings", None)
        return int(n) if n else None

    def kv_bytes_per_token(self) -> int:
        """Keys and values of every layer in the model's dtype (sliding-window layers counted
        in full: an upper bound)."""
        import torch

        width = torch.finfo(getattr(torch, self.dtype)).bits // 8
        return KVShape.from_hf_config(self.model.config.to_dict(), width).bytes_per_token()

    def kv_cache_budget_bytes(self) -> int | None:
        """Free CUDA memory on the model's device now (torch.cuda.mem_get_info); None on CPU."""
        import torch

        if not self.device.startswith("cuda") or not torch.cuda.is_available():
            return None
        free, _total = torch.cuda.mem_get_info(torch.device(self.device))
        return int(free)

    def next_token_logits(
        self, request: ChatRequest, continuation: str, *, hidden_states: bool = False
    ) -> TokenLogits:
        """Float32 logits of transformers' own forward over the rendered prompt + `continuation`;
        optionally each decoder layer's output (forward hooks on ``model.model.layers``)."""
        import torch

        def encode(text: str) -> list[int]:
            ids: list[int] = self.tokenizer(text, add_special_tokens=False).input_ids
            return ids

        prompt = encode(self.render(request))
        ids = prompt + encode(continuation)
        captured: list[torch.Tensor] = []

        def keep(_module: Any, _inputs: Any, out: Any) -> None:
            # Decoder layers return a tensor in transformers 5, a tuple in older releases.
            captured.append((out[0] if isinstance(out, tuple) else out)[0].float())

        hooks = (
            [layer.register_forward_hook(keep) for layer in self.model.model.layers] if hidden_states else []
        )
        try:
            x = torch.tensor([ids], device=self.device)
            with torch.no_grad():
                logits = self.model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0].float()
        finally:
            for h in hooks:
                h.remove()
        return TokenLogits(
            token_ids=ids,
            prompt_len=len(prompt),
            logits=logits,
            hidden_states=captured if hidden_states else None,
            layer_types=list(getattr(self.model.config, "layer_types", None) or []) or None,
        )

    def generate(self, requests: Sequence[ChatRequest]) -> Iterator[tuple[int, Completion]]:
        import torch

        for i, req in enumerate(requests):
            p = req.params
            if p.presence_penalty:
                raise UsageError("the transformers runner has no presence_penalty; use torch-int4 or vllm")
            ids = self.tokenizer(self.render(req), add_special_tokens=False, return_tensors="pt").input_ids
            ids = ids.to(self.device)
            kwargs: dict[str, object] = {"max_new_tokens": p.max_new_tokens, "do_sample": not p.greedy}
            if not p.greedy:
                kwargs.update(temperature=p.temperature, top_p=p.top_p, top_k=p.top_k or None)
                torch.manual_seed(p.seed or 0)
            else:
                kwargs.update(temperature=None, top_p=None, top_k=None)
            if p.stop:
                kwargs.update(stop_strings=list(p.stop), tokenizer=self.tokenizer)
            with torch.no_grad():
                out = self.model.generate(ids, attention_mask=torch.ones_like(ids), **kwargs)
            new = out[0, ids.shape[1] :].tolist()
            eos = self.model.generation_config.eos_token_id
            eos_ids = set(eos if isinstance(eos, list) else [eos])
            finish: FinishReason = "length"
            if new and new[-1] in eos_ids:
                new, finish = new[:-1], "stop"
            text = str(self.tokenizer.decode(new, skip_special_tokens=True))
            for s in p.stop:
                if s in text:
                    text, finish = text[: text.index(s)], "stop"
            yield (
                i,
                Completion(
                    text=text,
                    finish_reason=finish,
                    prompt_tokens=int(ids.shape[1]),
                    completion_tokens=len(new),
                    token_ids=new,
                ),
            )
