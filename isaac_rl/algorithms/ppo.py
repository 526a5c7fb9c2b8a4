"""PPO (Schulman et al., 2017, "Proximal Policy Optimization Algorithms") with GAE(lambda) (Schulman et al., 2016),
on-policy, batched on the device and stacked over the ``K`` agents of a population.

    r_t(theta) = pi_theta(a_t | s_t) / pi_old(a_t | s_t)
    L_clip = -E[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]
    L_V    = E[max((V(s_t) - R_t)^2, (V_old(s_t) + clip(V(s_t) - V_old(s_t), -eps, eps) - R_t)^2)]   (clipped value)
    L      = L_clip + c_V L_V - c_H E[H(pi_theta(. | s_t))]

Each iteration rolls out ``rollout_steps`` steps of every env (:class:`isaac_rl.runtime.on_policy.OnPolicyLearning`),
computes GAE advantages and returns with time-outs bootstrapped from the true final observation
(:func:`isaac_rl.storage.rollout.gae`), then takes ``epochs x minibatches`` gradient steps. The adaptive-KL schedule
(as rsl_rl's) measures KL(pi_old || pi_theta) on each minibatch before its step and divides the learning rate by 1.5
above ``2 desired_kl`` or multiplies it by 1.5 below ``desired_kl / 2`` (within [1e-5, 1e-2]); the rate is Adam's
device tensor, so a recorded graph keeps the schedule and nothing is read back to the host.

Policies: ``gaussian`` (continuous efforts: a state-independent learned standard deviation; actions are not squashed,
the env gets them clipped to [-1, 1]) or ``categorical`` over discrete ``efforts`` (e.g. {-1, 0, +1}, as DQN).
Observations are normalised by running statistics (``normalize_obs``) updated after each iteration's learning, so the
rollout's and the learning's policies see the same normalisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from isaac_rl.algorithms.base import module_tensors
from isaac_rl.algorithms.common import OnPolicy, RunningNorm, agent_tensor, gradient_step
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.algorithms.networks import StackedModule, agent_generators, mlp, select_agent
from isaac_rl.algorithms.optim import Adam
from isaac_rl.algorithms.population import by_agent, values
from isaac_rl.algorithms.settings import AlgoSettings, check_non_negative, check_on_policy, check_positive
from isaac_rl.core.contract import VecEnv, canonical_device
from isaac_rl.core.settings import is_num, need
from isaac_rl.storage.rollout import RolloutStorage, agent_major, gae

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}
LR_MIN, LR_MAX, LR_FACTOR = 1e-5, 1e-2, 1.5  # the adaptive-KL schedule's bounds and step (rsl_rl's)
LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)



def _same(x: torch.Tensor) -> torch.Tensor:
    """The mean over the ranks of one process: ``x`` itself."""
    return x

@dataclass
class PPOSettings(AlgoSettings):
    """``train.algo`` of ``name: PPO`` (see :class:`PPO`)."""

    PER_AGENT = ("gamma", "lr", "gae_lambda", "entropy_coef")

    name: str = "PPO"
    hidden: List[int] = field(default_factory=lambda: [32, 32])
    activation: str = "elu"
    policy: str = "gaussian"
    efforts: List[float] = field(default_factory=lambda: [-1.0, 0.0, 1.0])
    lr: float = 1e-3
    rollout_steps: int = 16
    epochs: int = 5
    minibatches: int = 4
    clip: float = 0.2
    value_clip: bool = True
    value_coef: float = 1.0
    entropy_coef: float = 0.005
    gae_lambda: float = 0.95
    desired_kl: Optional[float] = 0.01
    init_std: float = 1.0
    normalize_obs: bool = True
    normalize_advantage: bool = True
    max_grad_norm: float = 1.0

    def check(self, prefix: str) -> None:
        super().check(prefix)
        check_on_policy(self, prefix)
        need(self.activation in ACTIVATIONS, f"{prefix}.activation", self.activation, " or ".join(ACTIVATIONS))
        need(self.policy in ("gaussian", "categorical"), f"{prefix}.policy", self.policy, "gaussian or categorical")
        need(isinstance(self.efforts, (list, tuple)) and len(self.efforts) >= 2
             and all(is_num(e) and -1 <= e <= 1 for e in self.efforts), f"{prefix}.efforts", self.efforts,
             "a list of >= 2 normalised efforts in [-1, 1]")
        check_positive(prefix, lr=self.lr, init_std=self.init_std)
        need(is_num(self.clip) and 0 < self.clip < 1, f"{prefix}.clip", self.clip, "a number in (0, 1)")
        check_non_negative(prefix, value_coef=self.value_coef, entropy_coef=self.entropy_coef)
        need(is_num(self.gae_lambda) and 0 <= self.gae_lambda <= 1, f"{prefix}.gae_lambda", self.gae_lambda,
             "a number in [0, 1]")
        need(self.desired_kl is None or (is_num(self.desired_kl) and self.desired_kl > 0), f"{prefix}.desired_kl",
             self.desired_kl, "null (a fixed learning rate) or a number > 0 (the adaptive-KL schedule)")
        for key in ("value_clip", "normalize_obs", "normalize_advantage"):
            need(isinstance(getattr(self, key), bool), f"{prefix}.{key}", getattr(self, key), "True or False")


class LogStd(StackedModule):
    """The Gaussian policy's state-independent log standard deviation, float ``[K, 1, A]``."""

    def __init__(self, agents: int, act_dim: int, init_std: float, device: torch.device) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((agents, 1, act_dim), math.log(init_std), device=device))


class DeployedPolicy(nn.Module):
    """One agent's deterministic policy: float ``[N, obs_dim]`` -> float32 ``[N, act_dim]`` efforts: the Gaussian's
    mean clipped to [-1, 1], or ``efforts[argmax logits]``."""

    def __init__(self, norm: Optional[nn.Module], actor: nn.Module, efforts: Optional[torch.Tensor]) -> None:
        super().__init__()
        self.norm, self.actor = norm, actor
        if efforts is not None:
            self.register_buffer("efforts", efforts.detach().clone().reshape(-1, 1).float())
        else:
            self.efforts = None  # type: ignore[assignment]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.unsqueeze(0)
        out = self.actor(self.norm(x) if self.norm is not None else x)[0]
        if self.efforts is None:
            return out.clamp(-1.0, 1.0).float()
        return self.efforts[out.argmax(dim=-1)]


class PPO(OnPolicy):
    """Proximal policy optimisation for ``K = len(seeds)`` independent agents (see the module docstring).

    Args:
        settings: Each agent's checked settings (shared keys from the first; ``PER_AGENT`` keys per agent).
        obs_dim: Observation width.
        act_dim: Action width (Gaussian policy).
        device: Where the networks live.
        seeds: Agent ``k``'s initial weights come from a generator seeded ``seeds[k]``.
        efforts: The discrete action set (categorical policy), else ``None``.
    """

    def __init__(self, settings: Sequence[PPOSettings], obs_dim: int, act_dim: int, device: torch.device,
                 seeds: Sequence[int] = (0,), efforts: Optional[DiscreteEfforts] = None) -> None:
        s = settings[0]
        self.device, self.agents, self.settings = canonical_device(device), len(seeds), s
        self.efforts = efforts
        self.discrete = efforts is not None
        self.action_dim = 0 if self.discrete else act_dim
        self.act_dim = act_dim
        k, dev = self.agents, self.device
        gens = agent_generators(seeds)
        out = efforts.num_actions if efforts is not None else act_dim
        activation = ACTIVATIONS[s.activation]
        self.obs_norm = RunningNorm(obs_dim, k, dev)
        # Mean of a device tensor over the ranks of a multi-GPU run (identity in one process; run.py installs the
        # all-reduce): what PPO keeps outside the optimizer (the KL that sets the learning rate, the observation
        # statistics) is computed from every rank's data, so all ranks stay identical, as their averaged gradients do.
        self.rank_mean: Callable[[torch.Tensor], torch.Tensor] = _same
        self.actor = mlp(obs_dim, s.hidden, out, dev, gens, activation=activation)
        self.critic = mlp(obs_dim, s.hidden, 1, dev, gens, activation=activation)
        self.log_std = LogStd(k, act_dim, s.init_std, dev)
        params = list(self.actor.parameters()) + list(self.critic.parameters())
        if not self.discrete:
            params += list(self.log_std.parameters())
        self.optimizer = Adam(params, values(settings, "lr"))
        self.optimizer.fused = False  # the kernels that read the device learning rates (the adaptive-KL schedule)
        self.gamma = agent_tensor(values(settings, "gamma"), k, dev)  # [K, 1]
        self.lam = agent_tensor(values(settings, "gae_lambda"), k, dev)
        self.entropy_coef = agent_tensor(values(settings, "entropy_coef"), k, dev).view(-1)
        self.active = torch.ones(k, device=dev)  # 0 for agents that stopped learning (solved)
        self.rollout_steps = s.rollout_steps
        self.updates_per_iteration = s.epochs * s.minibatches

    @classmethod
    def from_config(cls, s: Sequence[PPOSettings], env: VecEnv, seeds: Sequence[int]) -> "PPO":
        """From each agent's checked settings for ``env``."""
        efforts = None
        if s[0].policy == "categorical":
            efforts = DiscreteEfforts(s[0].efforts, env.device)
            efforts.check_supported_by(env.action_spec)
        return cls(s, env.obs_dim, env.action_spec.dim, env.device, seeds, efforts)

    # ------------------------------------------------------------------ the policy
    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        return self.obs_norm(x) if self.settings.normalize_obs else x

    def _dist(self, out: torch.Tensor) -> torch.Tensor:
        """The policy's distribution parameters ``[K, B, D]`` from the actor's output: Gaussian mean and log std
        (``D = 2A``), or categorical log-probabilities (``D = A``)."""
        if self.discrete:
            return F.log_softmax(out, dim=-1)
        return torch.cat((out, self.log_std.weight.expand_as(out)), dim=-1)

    def _log_prob_entropy(self, dist: torch.Tensor, action: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """log pi(a | s) and the entropy, float ``[K, B]``, of stored actions ``[K, B(, A)]``."""
        if self.discrete:
            logp = dist.gather(-1, action.unsqueeze(-1)).squeeze(-1)
            return logp, -(dist.exp() * dist).sum(-1)
        mean, log_std = dist.chunk(2, dim=-1)
        z = (action - mean) * torch.exp(-log_std)
        logp = (-0.5 * z.pow(2) - log_std - LOG_SQRT_2PI).sum(-1)
        return logp, (0.5 + LOG_SQRT_2PI + log_std).sum(-1)

    def kl(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """KL(pi_old || pi_new) per sample, float ``[K, B]``, from distribution parameters ``[K, B, D]``."""
        if self.discrete:
            return (old.exp() * (old - new)).sum(-1)
        mu0, ls0 = old.chunk(2, dim=-1)
        mu1, ls1 = new.chunk(2, dim=-1)
        return (ls1 - ls0 + (torch.exp(2 * ls0) + (mu0 - mu1).pow(2)) / (2.0 * torch.exp(2 * ls1)) - 0.5).sum(-1)

    @torch.no_grad()
    def rollout_act(self, obs: torch.Tensor, clock: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Sampled actions for env-major float ``[K N, obs_dim]``: long ``[K N]`` indices or float ``[K N, A]``
        (unclipped), with their log-probabilities ``[K N]`` and distribution parameters ``[K N, D]``."""
        dist = self._dist(self.actor(self._norm(by_agent(obs, self.agents))))
        if self.discrete:  # Gumbel-max sampling: argmax(log p + G), G ~ Gumbel(0, 1)
            u = torch.rand_like(dist).clamp_(min=1e-20)
            action = (dist - torch.log(-torch.log(u))).argmax(dim=-1)
        else:
            mean, log_std = dist.chunk(2, dim=-1)
            action = mean + torch.exp(log_std) * torch.randn_like(mean)
        logp, _ = self._log_prob_entropy(dist, action)
        flat = obs.shape[0]
        return action.reshape((flat,) + tuple(action.shape[2:])), {"log_prob": logp.reshape(flat),
                                                                 "dist": dist.reshape(flat, -1)}

    def rollout_extras(self) -> Dict[str, Tuple[int, ...]]:
        """Per-step tensors the rollout keeps beside the transitions (shapes after ``[T, N]``)."""
        width = self.efforts.num_actions if self.efforts is not None else 2 * self.act_dim
        return {"log_prob": (), "dist": (width,)}

    def explore(self, obs: torch.Tensor, clock: torch.Tensor) -> torch.Tensor:
        """Sampled stored actions (see :meth:`rollout_act`)."""
        return self.rollout_act(obs, clock)[0]

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic efforts float32 ``[K N, act_dim]``: the mean clipped to [-1, 1], or the likeliest effort."""
        out = self.actor(self._norm(by_agent(obs, self.agents))).reshape(obs.shape[0], -1)
        if self.efforts is not None:
            return self.efforts(out.argmax(dim=-1))
        return out.clamp(-1.0, 1.0)

    def random_action(self, n: int) -> torch.Tensor:
        """Uniform random stored actions for ``n`` envs."""
        if self.efforts is not None:
            return torch.randint(0, self.efforts.num_actions, (n,), device=self.device)
        return torch.rand((n, self.act_dim), device=self.device) * 2.0 - 1.0

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """Stored actions -> float32 ``[N, act_dim]`` efforts (Gaussian samples clipped to [-1, 1])."""
        if self.efforts is not None:
            return self.efforts(action)
        return action.clamp(-1.0, 1.0)

    # ------------------------------------------------------------------ learning
    def advantages(self, storage: RolloutStorage) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Old values, GAE advantages and returns per agent, float ``[K, T N]`` (no gradient)."""
        t, k = storage.rewards.shape[0], self.agents
        with torch.no_grad():
            both = agent_major(self.agents, torch.stack((storage.obs, storage.final_obs), dim=1).flatten(0, 1))
            v = self.critic(self._norm(both)).squeeze(-1).view(k, t, 2, -1)  # [K, T, 2, N]
            old_v, next_v = v[:, :, 0].transpose(0, 1), v[:, :, 1].transpose(0, 1)  # [T, K, N]

            def split(x: torch.Tensor) -> torch.Tensor:
                return x.view(t, k, -1)

            adv, ret = gae(split(storage.rewards), old_v, next_v, split(storage.terminated), split(storage.done),
                           self.gamma, self.lam)
            return tuple(x.transpose(0, 1).reshape(k, -1) for x in (old_v, adv, ret))  # type: ignore[return-value]

    def learn(self, storage: RolloutStorage, clock: torch.Tensor) -> Dict[str, torch.Tensor]:
        """GAE, then ``epochs x minibatches`` clipped-surrogate steps on the rollout; per-agent float ``[K]`` metrics
        of the last minibatch (device tensors)."""
        s = self.settings
        old_v, adv, ret = self.advantages(storage)
        if s.normalize_advantage:
            adv = (adv - adv.mean(dim=1, keepdim=True)) / (adv.std(dim=1, keepdim=True) + 1e-8)
        obs = agent_major(self.agents, storage.obs)
        actions = agent_major(self.agents, storage.actions)
        old_logp = agent_major(self.agents, storage.extras["log_prob"])
        old_dist = agent_major(self.agents, storage.extras["dist"])
        total = obs.shape[1]
        size = total // s.minibatches
        metrics: Dict[str, torch.Tensor] = {}
        for _ in range(s.epochs):
            order = torch.argsort(torch.rand(total, device=self.device))  # a random permutation, graph-safe
            for m in range(s.minibatches):
                idx = order[m * size:(m + 1) * size]
                metrics = self._step(obs[:, idx], actions[:, idx], old_logp[:, idx], old_dist[:, idx],
                                     old_v[:, idx], adv[:, idx], ret[:, idx])
        if s.normalize_obs:
            self.obs_norm.update(obs, self.active, self.rank_mean)
        return metrics

    def _step(self, obs: torch.Tensor, action: torch.Tensor, old_logp: torch.Tensor, old_dist: torch.Tensor,
              old_v: torch.Tensor, adv: torch.Tensor, ret: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One minibatch step of every agent (``[K, B, ...]`` tensors)."""
        s = self.settings
        x = self._norm(obs)
        dist = self._dist(self.actor(x))
        logp, entropy = self._log_prob_entropy(dist, action)
        kl = self.rank_mean(self.kl(old_dist, dist.detach()).mean(-1))  # [K]
        if s.desired_kl is not None:  # the adaptive-KL schedule, before this minibatch's step (device tensors)
            lr = self.optimizer.lr_tensor
            lower = torch.clamp(lr / LR_FACTOR, min=LR_MIN)
            higher = torch.clamp(lr * LR_FACTOR, max=LR_MAX)
            new = torch.where(kl > 2.0 * s.desired_kl, lower,
                              torch.where((kl < 0.5 * s.desired_kl) & (kl > 0.0), higher, lr))
            lr.copy_(new * self.active)
        ratio = torch.exp(logp - old_logp)
        surrogate = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1.0 - s.clip, 1.0 + s.clip)).mean(-1)
        v = self.critic(x).squeeze(-1)
        if s.value_clip:
            clipped = old_v + torch.clamp(v - old_v, -s.clip, s.clip)
            value_loss = torch.max((v - ret).pow(2), (clipped - ret).pow(2)).mean(-1)
        else:
            value_loss = (v - ret).pow(2).mean(-1)
        entropy = entropy.mean(-1)
        loss = surrogate + s.value_coef * value_loss - self.entropy_coef * entropy
        gradient_step(self.optimizer, loss, s.max_grad_norm)
        return {"losses/surrogate": surrogate.detach(), "losses/value_loss": value_loss.detach(),
                "losses/entropy": entropy.detach(), "losses/approx_kl": kl,
                "charts/learning_rate": self.optimizer.lr_tensor.clone()}

    def freeze(self, stopped: torch.Tensor) -> None:
        """Agents where bool ``stopped [K]`` is set stop learning: learning rate 0, normalisation kept."""
        self.optimizer.freeze(stopped)
        self.active.mul_((~stopped).float())

    # ------------------------------------------------------------------ parts and state
    def modules(self) -> Dict[str, nn.Module]:
        """Actor, critic, log std and observation statistics."""
        return {"actor": self.actor, "critic": self.critic, "log_std": self.log_std, "obs_norm": self.obs_norm}

    def optimizers(self) -> Dict[str, Adam]:
        """The one Adam of actor and critic."""
        return {"optimizer": self.optimizer}

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Networks, statistics, optimizer state, the active mask."""
        yield from module_tensors(self.actor, self.critic, self.log_std, self.obs_norm)
        yield from self.optimizer.persistent_tensors()
        yield self.active

    def policy_module(self, agent: int = 0) -> nn.Module:
        """Stand-alone deterministic policy of agent ``agent`` (obs -> efforts)."""
        norm = select_agent(self.obs_norm, agent) if self.settings.normalize_obs else None
        table = self.efforts.table if self.efforts is not None else None
        return DeployedPolicy(norm, select_agent(self.actor, agent), table)

    def state_dict(self) -> Dict[str, Any]:
        """Networks, statistics, optimizer, the adapted learning rates and the active mask."""
        state: Dict[str, Any] = {name: m.state_dict() for name, m in self.modules().items()}
        state.update(optimizer=self.optimizer.state_dict(), lr=self.optimizer.lr_tensor.clone(),
                     active=self.active.clone())
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` (one agent's slice has no learning-rate tensor: the configured rate)."""
        for name, module in self.modules().items():
            module.load_state_dict(state[name])
        self.optimizer.load_state_dict(state["optimizer"])
        if "lr" in state:
            self.optimizer.lr_tensor.copy_(state["lr"])
        if "active" in state:
            self.active.copy_(state["active"])
