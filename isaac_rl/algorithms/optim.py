"""Adam (Kingma & Ba, 2015) over a flat list of parameters, without ``torch.optim``.

Why not ``torch.optim.Adam``: in torch 2.x constructing any ``torch.optim`` optimizer imports ``torch._dynamo``,
which costs 1.3 s of start-up on a 2-core CPU -- as much as a whole CartPole training run here. This class does
the same maths with the fused Adam kernel where this torch has one for the device (``torch._fused_adam_``: CUDA
since torch 2.0, CPU since 2.4) and with the multi-tensor ``torch._foreach_*`` kernels otherwise (torch >= 1.7)::

    m_t = beta1 m_{t-1} + (1 - beta1) g_t          v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    p_t = p_{t-1} - lr * (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps)

It exposes what the rest of the package uses of an optimizer: ``param_groups``, ``zero_grad``, ``step``,
``state_dict`` and ``load_state_dict``.

``capturable=True`` (the ``compile=True`` training path) keeps the step count only on the device and computes the
bias corrections from it with tensor ops, so one traced or CUDA-graph-captured ``step`` is valid for every later
step (the host-float corrections of the multi-tensor path would be frozen into the graph).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Tuple

import torch


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
    """Adam for the float parameters ``params`` (all on one device); ``lr`` is read from ``param_groups[0]``.

    The step counter lives on the host (an int, no device read) and, for the fused kernel, as one 0-d float tensor
    on the device, incremented before each call and passed once per parameter as that kernel's signature requires.
    With ``capturable`` the device tensor is the only counter (``steps`` is then read from it, a host sync).
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, capturable: bool = False) -> None:
        self.params: List[torch.nn.Parameter] = list(params)
        if not self.params:
            raise ValueError("Adam got an empty parameter list")
        if not lr > 0.0:
            raise ValueError(f"Adam learning rate must be > 0, got {lr}")
        self.param_groups: List[Dict[str, Any]] = [{"params": self.params, "lr": float(lr)}]
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        device = self.params[0].device
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._steps = 0
        self.capturable = capturable
        self.fused = not capturable and _has_fused_kernel(device)
        self._step_tensor = torch.zeros((), device=device)

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
        lr = float(self.param_groups[0]["lr"])
        params = [self.params[i] for i in idx]
        grads = [self.params[i].grad for i in idx]
        m = [self.exp_avg[i] for i in idx]
        v = [self.exp_avg_sq[i] for i in idx]
        if self.capturable:
            self._capturable_step(lr, params, grads, m, v)
            return
        self._steps += 1
        if self.fused:
            self._step_tensor.add_(1.0)  # the kernel reads the already-incremented step
            torch._fused_adam_(params, grads, m, v, [], [self._step_tensor] * len(idx), lr=lr, beta1=self.beta1,
                               beta2=self.beta2, weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        torch._foreach_mul_(m, self.beta1)
        torch._foreach_add_(m, grads, alpha=1.0 - self.beta1)
        torch._foreach_mul_(v, self.beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - self.beta2)
        bias1 = 1.0 - self.beta1 ** self._steps
        bias2 = 1.0 - self.beta2 ** self._steps
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, math.sqrt(bias2))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, m, denom, value=-lr / bias1)

    def _capturable_step(self, lr: float, params: List[torch.Tensor], grads: List[torch.Tensor],
                         m: List[torch.Tensor], v: List[torch.Tensor]) -> None:
        """The same update with ``t`` read on the device: ``p -= lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t))
        + eps)`` (written as ``sqrt(v) / sqrt(1 - beta2^t)``, as the multi-tensor path does)."""
        step = self._step_tensor.add_(1.0)
        torch._foreach_mul_(m, self.beta1)
        torch._foreach_add_(m, grads, alpha=1.0 - self.beta1)
        torch._foreach_mul_(v, self.beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1.0 - self.beta2)
        step_size = lr / (1.0 - torch.pow(self.beta1, step))  # 0-d tensors
        bias2_sqrt = torch.sqrt(1.0 - torch.pow(self.beta2, step))
        for p, m_i, v_i in zip(params, m, v):
            p.sub_(step_size * m_i / (v_i.sqrt() / bias2_sqrt + self.eps))

    @property
    def steps(self) -> int:
        """Adam steps taken (with ``capturable``, a read of the device counter)."""
        return int(self._step_tensor.item()) if self.capturable else self._steps

    def state_dict(self) -> Dict[str, Any]:
        """Moments, step count and learning rate (tensors cloned)."""
        return {"steps": self.steps, "lr": self.param_groups[0]["lr"],
                "exp_avg": [t.clone() for t in self.exp_avg], "exp_avg_sq": [t.clone() for t in self.exp_avg_sq]}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        if len(state["exp_avg"]) != len(self.params):
            raise ValueError(f"optimizer state has {len(state['exp_avg'])} tensors; this Adam has {len(self.params)}")
        self._steps = int(state["steps"])
        self.param_groups[0]["lr"] = float(state["lr"])
        for dst, src in zip(self.exp_avg + self.exp_avg_sq, list(state["exp_avg"]) + list(state["exp_avg_sq"])):
            dst.copy_(src)
        self._step_tensor.fill_(float(self._steps))
