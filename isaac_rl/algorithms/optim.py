"""Adam (Kingma & Ba, 2015) over a flat list of parameters, without ``torch.optim``.

Why not ``torch.optim.Adam``: in torch 2.x constructing any ``torch.optim`` optimizer imports ``torch._dynamo``,
which costs seconds of start-up on a small CPU, as much as a CartPole training run (BENCHMARKS.md). This class does
the same maths with the fused Adam kernel where this torch has one for the device (``torch._fused_adam_``: CUDA
since torch 2.0, CPU since 2.4) for one agent, and with the multi-tensor ``torch._foreach_*`` kernels otherwise
(torch >= 1.7; a population's per-agent learning rates, which the fused kernel cannot take)::

    m_t = beta1 m_{t-1} + (1 - beta1) g_t          v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    p_t = p_{t-1} - lr * (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)

It exposes what the rest of the package uses of an optimizer: ``param_groups``, ``zero_grad``, ``step``,
``state_dict`` and ``load_state_dict``.

The step count lives only on the device (a 0-d float tensor) and both kernels read it there, so one traced or
CUDA-graph-recorded ``step`` stays valid for every later step; reading ``steps`` is a host sync (checkpoints only).
While ``torch.compile`` traces a step, the multi-tensor form runs (dynamo cannot functionalise the fused kernel).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Sequence, Tuple, Union

import torch

from isaac_rl.algorithms.networks import as_stacked


def _tracing() -> bool:
    """Whether ``torch.compile`` is tracing the caller (torch >= 2.1; never on older torch, which has no compiler)."""
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and hasattr(compiler, "is_compiling"):
        return bool(compiler.is_compiling())
    dynamo = getattr(torch, "_dynamo", None)
    return bool(dynamo is not None and hasattr(dynamo, "is_compiling") and dynamo.is_compiling())


def _has_fused_kernel(device: torch.device) -> bool:
    """Whether ``torch._fused_adam_`` exists and runs on ``device`` (probed on a throw-away tensor)."""
    if not hasattr(torch, "_fused_adam_"):
        return False
    p, g, m, v = (torch.zeros(1, device=device) for _ in range(4))
    try:
        torch._fused_adam_([p], [g], [m], [v], [], [torch.ones((), device=device)], lr=1e-3, beta1=0.9, beta2=0.999,
                           weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)
    except (RuntimeError, NotImplementedError):
        return False
    return True


class Adam:
    """Adam for the stacked float parameters ``params`` (all on one device, each ``[K, ...]`` for ``K`` agents) with
    one learning rate per agent: ``lr`` is a float (every agent) or ``K`` floats.

    The per-agent rates live in ``lr_tensor`` (float32 ``[K]`` on the device), which :meth:`freeze` zeroes for agents
    that stop learning; a one-agent Adam reads ``param_groups[0]["lr"]`` and uses the fused kernel where it exists.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: Union[float, Sequence[float]],
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params: List[torch.nn.Parameter] = list(params)
        if not self.params:
            raise ValueError("Adam got an empty parameter list")
        rates = [float(r) for r in (lr if isinstance(lr, (list, tuple)) else [lr] * self.params[0].shape[0])]
        if not all(r > 0.0 for r in rates) or len(rates) != self.params[0].shape[0]:
            raise ValueError(f"Adam needs one learning rate > 0 per agent ({self.params[0].shape[0]}), got {lr}")
        self.param_groups: List[Dict[str, Any]] = [{"params": self.params, "lr": rates[0]}]
        self.rates = rates  # host floats, exact (checkpoints); lr_tensor is their device copy, 0 where frozen
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        device = self.params[0].device
        self.lr_tensor = torch.tensor(rates, dtype=torch.float32, device=device)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.fused = len(rates) == 1 and _has_fused_kernel(device)
        self._step_tensor = torch.zeros((), device=device)

    def freeze(self, stopped: torch.Tensor) -> None:
        """Learning rate 0 for the agents where bool ``stopped [K]`` is set: their parameters stop changing (a
        checkpoint keeps the rates; the trainer freezes again on resume)."""
        self.lr_tensor.mul_((~stopped).to(self.lr_tensor.dtype))

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop (or zero) the gradients."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update from the parameters' ``.grad`` (parameters without a gradient are skipped)."""
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not idx:
            return
        params = [self.params[i] for i in idx]
        grads = [self.params[i].grad for i in idx]
        m = [self.exp_avg[i] for i in idx]
        v = [self.exp_avg_sq[i] for i in idx]
        step = self._step_tensor.add_(1.0)  # the kernels read the already-incremented step
        if self.fused and not _tracing():
            lr = float(self.param_groups[0]["lr"])
            torch._fused_adam_(params, grads, m, v, [], [step] * len(idx), lr=lr, beta1=self.beta1,
                               beta2=self.beta2, weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        torch._foreach_mul_(m, self.beta1)
        torch._foreach_add_(m, grads, alpha=1.0 - self.beta1)
        torch._foreach_mul_(v, self.beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - self.beta2)
        # p -= lr_k / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), with agent k's rate lr_k
        neg_step = -self.lr_tensor / (1.0 - torch.pow(self.beta1, step))  # [K]
        bias2_sqrt = torch.sqrt(1.0 - torch.pow(self.beta2, step))
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, [bias2_sqrt] * len(params))
        torch._foreach_add_(denom, self.eps)
        scaled = torch._foreach_mul(m, [neg_step.view((-1,) + (1,) * (p.dim() - 1)) for p in params])
        torch._foreach_addcdiv_(params, scaled, denom)

    @property
    def steps(self) -> int:
        """Adam steps taken (a read of the device counter: a host sync)."""
        return int(self._step_tensor.item())

    def persistent_tensors(self) -> List[torch.Tensor]:
        """Moments and step counter: what ``step`` changes in place besides the parameters."""
        return self.exp_avg + self.exp_avg_sq + [self._step_tensor, self.lr_tensor]

    def state_dict(self) -> Dict[str, Any]:
        """Moments, step count and learning rate(s) (a float for one agent, else ``K`` floats; tensors cloned)."""
        rates = self.rates
        return {"steps": self.steps, "lr": rates[0] if len(rates) == 1 else list(rates),
                "exp_avg": [t.clone() for t in self.exp_avg], "exp_avg_sq": [t.clone() for t in self.exp_avg_sq]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (also of the earlier unstacked one-agent layout)."""
        if len(state["exp_avg"]) != len(self.params):
            raise ValueError(f"optimizer state has {len(state['exp_avg'])} tensors; this Adam has {len(self.params)}")
        rates = state["lr"] if isinstance(state["lr"], (list, tuple)) else [state["lr"]] * len(self.lr_tensor)
        self.rates = [float(r) for r in rates]
        self.lr_tensor.copy_(torch.tensor(self.rates))  # frozen agents: the trainer freezes them again
        self.param_groups[0]["lr"] = self.rates[0]
        for dst, src in zip(self.exp_avg + self.exp_avg_sq, list(state["exp_avg"]) + list(state["exp_avg_sq"])):
            dst.copy_(as_stacked(src, dst))
        self._step_tensor.fill_(float(state["steps"]))
