"""DQN (Mnih et al., 2015) with the Double-DQN target option (van Hasselt et al., 2016), batched on the device."""

from __future__ import annotations

import copy
from typing import Any, Dict, Sequence, Union

import torch
import torch.nn.functional as F
from torch import nn

from isaac_rl.algorithms.networks import blend_update, mlp, polyak_update
from isaac_rl.algorithms.optim import Adam
from isaac_rl.core.contract import canonical_device
from isaac_rl.core.types import Batch


class DQN:
    """Q-learning with a target network and epsilon-greedy exploration over ``num_actions`` discrete efforts.

    Args:
        obs_dim: Observation width.
        num_actions: Number of discrete actions ``A``.
        device: Where the networks live.
        hidden: Hidden layer widths of the Q-network.
        lr: Adam learning rate.
        gamma: Discount factor.
        tau: Polyak factor of the target update; 1.0 means a hard copy.
        target_update_interval: Gradient steps between target updates.
        double_dqn: Use the Double-DQN target ``Q'(s', argmax_a Q(s', a))``.
        loss: ``"huber"`` (smooth L1) or ``"mse"``.
        max_grad_norm: Gradient clipping norm (0 disables).
        eps_start, eps_end, eps_decay_iterations: Linear epsilon schedule over iterations (vectorised env steps),
            the same for any ``num_envs``.
        layer_norm: LayerNorm in the Q-network's hidden layers.
        capturable: Keep the update counter on the device and blend the target every update with weight ``tau`` on
            due updates and 0 otherwise (``lerp`` with weight 0 or 1 is exact), so one traced or CUDA-graph-captured
            ``update`` is valid for all updates (``compile=True``); the host ``if`` of the default path would be
            frozen into the graph.
    """

    def __init__(self, obs_dim: int, num_actions: int, device: torch.device, hidden: Sequence[int] = (64, 64),
                 lr: float = 1e-3, gamma: float = 0.99, tau: float = 1.0, target_update_interval: int = 100,
                 double_dqn: bool = True, loss: str = "huber", max_grad_norm: float = 0.0, eps_start: float = 1.0,
                 eps_end: float = 0.05, eps_decay_iterations: int = 100, layer_norm: bool = False,
                 capturable: bool = False) -> None:
        self.device, self.num_actions = canonical_device(device), num_actions
        self.q = mlp(obs_dim, hidden, num_actions, self.device, layer_norm=layer_norm)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.optimizer = Adam(self.q.parameters(), lr, capturable=capturable)
        self.gamma, self.tau, self.target_update_interval = gamma, tau, target_update_interval
        self.double_dqn, self.max_grad_norm = double_dqn, max_grad_norm
        self.loss_fn = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}[loss]
        self.eps_start, self.eps_end, self.eps_decay_iterations = eps_start, eps_end, eps_decay_iterations
        self.capturable = capturable
        self._num_updates = 0
        self._updates_t = torch.zeros((), dtype=torch.long, device=self.device)

    @property
    def num_updates(self) -> int:
        """Gradient steps taken (with ``capturable``, a read of the device counter)."""
        return int(self._updates_t.item()) if self.capturable else self._num_updates

    def epsilon(self, iteration: Union[int, torch.Tensor]) -> Union[float, torch.Tensor]:
        """Linearly annealed exploration rate at ``iteration``: a host int (no device read) gives a float, a 0-d
        device tensor (``compile=True``, ``cuda_graph=True``) gives a 0-d tensor."""
        if isinstance(iteration, torch.Tensor):
            frac = torch.clamp(iteration / max(1, self.eps_decay_iterations), max=1.0)
        else:
            frac = min(1.0, iteration / max(1, self.eps_decay_iterations))
        return self.eps_start + frac * (self.eps_end - self.eps_start)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, epsilon: Union[float, torch.Tensor] = 0.0) -> torch.Tensor:
        """Epsilon-greedy indices long ``[N]`` for float ``[N, obs_dim]``; each env explores independently.
        ``epsilon``: host float or 0-d device tensor."""
        greedy = self.q(obs).argmax(dim=-1)
        if not isinstance(epsilon, torch.Tensor) and epsilon <= 0.0:
            return greedy
        n = obs.shape[0]
        random = torch.randint(0, self.num_actions, (n,), device=obs.device)
        return torch.where(torch.rand(n, device=obs.device) < epsilon, random, greedy)

    def random_action(self, n: int) -> torch.Tensor:
        """Uniform random indices long ``[n]`` (warm-up iterations)."""
        return torch.randint(0, self.num_actions, (n,), device=self.device)

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """``y = r + gamma^m (1 - terminated) Q'(s', a')``, ``a' = argmax Q(s')`` (double) or ``argmax Q'(s')``;
        ``m`` is the batch's n-step horizon (1 for one-step transitions)."""
        next_q_all = self.q_target(batch.next_obs)
        if self.double_dqn:
            next_action = self.q(batch.next_obs).argmax(dim=-1, keepdim=True)
            next_q = next_q_all.gather(-1, next_action).squeeze(-1)
        else:
            next_q = next_q_all.max(dim=-1).values
        return batch.reward + batch.discount(self.gamma) * next_q

    def update(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """One gradient step on the TD loss; returns detached 0-d tensors (never host floats)."""
        td_target = self.td_target(batch)
        q_sa = self.q(batch.obs).gather(-1, batch.action.unsqueeze(-1)).squeeze(-1)
        td_loss = self.loss_fn(q_sa, td_target)
        self.optimizer.zero_grad(set_to_none=True)
        td_loss.backward()
        if self.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.q.parameters(), self.max_grad_norm)
        self.optimizer.step()
        if self.capturable:
            self._updates_t += 1
            due = (self._updates_t % self.target_update_interval == 0).float()
            blend_update(self.q_target.parameters(), self.q.parameters(), self.tau * due)
        else:
            self._num_updates += 1
            if self._num_updates % self.target_update_interval == 0:
                polyak_update(self.q_target.parameters(), self.q.parameters(), self.tau)
        return {"losses/td_loss": td_loss.detach(), "losses/q_values": q_sa.detach().mean()}

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic (greedy) action indices for evaluation."""
        return self.act(obs, 0.0)

    def modules(self) -> Dict[str, nn.Module]:
        """The learner's networks by name (online and target)."""
        return {"q": self.q, "q_target": self.q_target}

    def state_dict(self) -> Dict[str, Any]:
        """Networks, optimizer and update counter."""
        return {"q": self.q.state_dict(), "q_target": self.q_target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._num_updates = int(state["num_updates"])
        self._updates_t.fill_(self._num_updates)
