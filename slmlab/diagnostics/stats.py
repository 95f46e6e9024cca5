"""Training statistics: a trainer Callback that samples every `every` updates.

Per-layer activation mean / std / saturation / dead units, the residual stream's
rms per block, attention entropy per head, gradient norm per layer and
update:data ratio per parameter, each as a list of
dicts (one per step and layer / head / parameter) that slmlab.plots.stats_over_time
draws. Hooks watch only the first micro-batch of a sampled step, never an eval.
How often clipping fired is in every history already (doctor.clipped_fraction).
It is a recorder (slmlab.callbacks): through slmlab.experiments.run a cached
run gives its statistics back, so a second execution shows the same numbers.
"""

from __future__ import annotations

import math

import torch

from ..callbacks import Callback

# ---------------------------------------------------------------------------
# Training statistics: a Callback that samples every `every` updates

SATURATION_THRESHOLD = -3.0  # GELU pre-activations below this are "saturated" (see TrainingStats)

# Alarm levels the doctor (doctor.diagnose_stats) reads these statistics with, and why:
GELU_SATURATED_SHARE = 0.05  # share of GELU inputs below -3: a standard normal has 0.13% there;
#                              makemore flags tanh layers with more than ~5% of |tanh| > 0.97
ATTENTION_COLLAPSED_NATS = 0.3  # a head's mean entropy: 0.3 nats is ~95% of the weight on one position
VANISHING_GRAD_NORM = 0.01  # a block's gradient norm: an untrained GPT-2-init model has ~1 at ln V
EXPLODING_FACTOR = 10.0  # a step's gradient norm above 10x the run's median (doctor's lr_too_high too)
UPDATE_RATIO_HIGH = -1.0  # log10(update / weight): 10% of a weight rewritten in one step
RESIDUAL_RMS_HIGH = 2.0  # residual stream rms: each block reads it through a LayerNorm (rms 1)


class TrainingStats(Callback):
    """Activation, attention, gradient and update statistics, sampled every `every` updates.

    Each list holds one dict per (step, layer/head/parameter), ready for a DataFrame:
    - activations: step, layer, mean, std (GELU outputs), pre_std (its inputs), saturated:
      the share of GELU pre-activations below SATURATION_THRESHOLD (-3). There GELU is flat:
      |gelu(x)| < 0.005 and |gelu'(x)| < 0.012, so the unit is off and passes almost no
      gradient (GELU has no upper saturation: large positive inputs pass through). dead: the
      share of the 4C hidden units saturated at every position of the micro-batch (fastai's
      count of activations near zero, per unit: a unit that is off for every token learns nothing).
    - residual: step, layer, rms of the residual stream leaving that block (B, T, C): pre-LN
      blocks read it through a LayerNorm, so its scale is free to grow; without LayerNorm
      the next block and the logits see it raw.
    - attention: step, layer, head, entropy (nats, mean over batch and positions) and
      uniform (the mean of ln(t+1): entropy of attending evenly to all visible positions).
    - grads: step, name (per block / embedding / final norm), grad_norm before clipping.
    - updates: step, name (each parameter), log10_ratio = log10(rms(update) / rms(weight)),
      the real AdamW update; rms, not std, so LayerNorm gains (all ones at init) have a ratio
      too; for the zero-mean weight matrices it equals Karpathy's std ratio, whose guide
      line is -3 (much lower: learning slowly; much higher: unstable).
    Only the first micro-batch of a sampled step is watched; eval passes never are. On that
    micro-batch attention runs by hand (to see its probabilities), not through SDPA, which
    moves the losses in about the 7th digit.
    """

    KINDS = ("activations", "residual", "attention", "grads", "updates")

    def __init__(
        self,
        every: int = 10,
        *,
        activations: bool = True,
        attention: bool = True,
        grads: bool = True,
        updates: bool = True,
    ):
        self.every, self.want = max(1, int(every)), dict(act=activations, att=attention, grad=grads, upd=updates)
        self.activations: list[dict] = []
        self.residual: list[dict] = []
        self.attention: list[dict] = []
        self.grads: list[dict] = []
        self.updates: list[dict] = []
        self._handles: list = []
        self._todo: dict[str, set[int]] = {"act": set(), "res": set(), "att": set()}  # layers still to watch
        self._pending_grads: dict[int, dict] = {}  # step -> norms, until its record arrives
        self._before: dict | None = None
        self._step = 0

    # --- a recorder: what experiments.run saves with the run and gives back on a cache hit

    @property
    def record_name(self) -> str:
        """The file name of what it recorded: the settings are in it, as they change the numbers."""
        off = "".join(f"-no-{k}" for k, on in self.want.items() if not on)
        return f"training_stats-every{self.every}{off}"

    def recorded(self) -> dict:
        return {k: getattr(self, k) for k in self.KINDS}

    def restore(self, data: dict) -> None:
        for k in self.KINDS:
            setattr(self, k, list(data[k]))

    # --- trainer hooks

    def on_train_start(self, trainer) -> None:
        for i, block in enumerate(trainer.model.blocks):
            self._handles.append(block.mlp.act.register_forward_hook(self._act_hook(i)))
            self._handles.append(block.attn.register_forward_hook(self._att_hook(i)))
            self._handles.append(block.register_forward_hook(self._res_hook(i)))

    def on_step_start(self, trainer) -> None:
        self._step = trainer.step + 1  # the step number this update's record will carry
        if not self._sampled(self._step):
            return
        layers = set(range(len(trainer.model.blocks)))
        on = {k: set(layers) if self.want[k] else set() for k in ("act", "att")}
        self._todo = {"act": on["act"], "res": set(on["act"]), "att": on["att"]}
        for block in trainer.model.blocks:
            block.attn.record_probs = self.want["att"]

    def on_after_backward(self, trainer) -> None:
        if not self._sampled(self._step):
            return
        if self.want["grad"]:
            self._pending_grads[self._step] = _group_grad_norms(trainer.model)
        if self.want["upd"]:
            self._before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}

    def on_update(self, trainer) -> None:
        self._disarm(trainer)
        if self._before is None:
            return
        for n, p in trainer.model.named_parameters():
            old = self._before[n]
            r = float(_rms(p.detach() - old) / (_rms(old) + 1e-12))
            if r > 0 and math.isfinite(r):
                self.updates.append({"step": self._step, "name": n, "log10_ratio": math.log10(r)})
        self._before = None

    def on_log(self, trainer, records: list[dict]) -> None:
        for record in records:
            pending = self._pending_grads.pop(record["step"], None)
            if pending is not None:
                self._flush_grads(record["step"], pending, record.get("grad_norm"))

    def on_train_end(self, trainer) -> None:
        self._disarm(trainer)
        for h in self._handles:
            h.remove()
        self._handles = []

    # --- helpers

    def _sampled(self, step: int) -> bool:
        return step == 1 or step % self.every == 0

    def _disarm(self, trainer) -> None:
        self._todo = {"act": set(), "res": set(), "att": set()}
        for block in trainer.model.blocks:
            block.attn.record_probs = False

    def _act_hook(self, layer: int):
        def hook(module, inputs, act):  # inputs[0]: GELU input (B, T, 4C); act: its output
            if layer not in self._todo["act"] or not torch.is_grad_enabled():
                return
            self._todo["act"].discard(layer)
            with torch.no_grad():
                pre, act = inputs[0].detach().float(), act.detach().float()  # (B, T, 4C)
                off = pre < SATURATION_THRESHOLD  # (B, T, 4C)
                dead = off.flatten(0, -2).all(dim=0)  # (4C,): off at every position
                self.activations.append(
                    {
                        "step": self._step,
                        "layer": layer,
                        "mean": float(act.mean()),
                        "std": float(act.std()),
                        "pre_std": float(pre.std()),
                        "saturated": float(off.float().mean()),
                        "dead": float(dead.float().mean()),
                    }
                )

        return hook

    def _res_hook(self, layer: int):
        def hook(module, inputs, out):  # out: the residual stream after this block (B, T, C)
            if layer not in self._todo["res"] or not torch.is_grad_enabled():
                return
            self._todo["res"].discard(layer)
            self.residual.append({"step": self._step, "layer": layer, "rms": float(_rms(out.detach()))})

        return hook

    def _att_hook(self, layer: int):
        def hook(module, inputs, output):
            if layer not in self._todo["att"] or not torch.is_grad_enabled():
                return
            self._todo["att"].discard(layer)
            module.record_probs = False  # back to the fast kernel for the other micro-batches
            if module.last_probs is not None:
                self._record_entropy(layer, module.last_probs)

        return hook

    def _record_entropy(self, layer: int, probs: torch.Tensor) -> None:
        with torch.no_grad():
            p = probs.float()  # (B, H, T, T)
            ent = -(p * torch.log(p.clamp_min(1e-12))).sum(-1).mean(dim=(0, 2))  # (H,)
            T = p.size(-1)
            uniform = float(torch.log(torch.arange(1, T + 1, dtype=torch.float32)).mean())
        for h, e in enumerate(ent.tolist()):
            self.attention.append({"step": self._step, "layer": layer, "head": h, "entropy": e, "uniform": uniform})

    def _flush_grads(self, step: int, pending: dict, pre_clip_total: float | None) -> None:
        """Norms were taken after clipping; clipping scales all alike, so undo it exactly."""
        post = pending.pop("_total")
        scale = pre_clip_total / post if pre_clip_total and post > 0 and math.isfinite(pre_clip_total) else 1.0
        for name, norm in pending.items():
            self.grads.append({"step": step, "name": name, "grad_norm": float(norm) * scale})


def _rms(t: torch.Tensor) -> torch.Tensor:
    return t.float().pow(2).mean().sqrt()


def _group_grad_norms(model: torch.nn.Module) -> dict:
    """Gradient norm per group: 'embedding', 'block 0'..., 'final norm'; plus '_total' (tensors)."""
    sq: dict[str, torch.Tensor] = {}
    for n, p in model.named_parameters():
        if p.grad is None:
            continue
        parts = n.split(".")
        name = (
            f"block {parts[1]}"
            if parts[0] == "blocks"
            else {"wte": "embedding", "wpe": "embedding", "ln_f": "final norm"}.get(parts[0], parts[0])
        )
        sq[name] = sq.get(name, 0) + p.grad.detach().float().pow(2).sum()
    total = torch.sqrt(sum(sq.values())) if sq else torch.zeros(())
    out = {k: float(torch.sqrt(v)) for k, v in sq.items()}
    out["_total"] = float(total)
    return out
