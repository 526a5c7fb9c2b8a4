"""Per-env exploration noise for continuous actions, as tensor ops (no host sync)."""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Union

import torch

Scale = Union[float, torch.Tensor]  # one noise scale, or one per env (float32 [N, 1]: a population's agents differ)


def _draw_scale(sigma: Scale, sigma_min: Scale, n: int, device: torch.device) -> torch.Tensor:
    """Per-env scales ``sigma_i ~ U[sigma_min, sigma]``: float32 ``[n, 1]`` on ``device``."""
    return sigma_min + (sigma - sigma_min) * torch.rand((n, 1), device=device)


def mixed_scale(sigma: Scale, sigma_min: Optional[float], n: int, device: torch.device) -> Optional[torch.Tensor]:
    """The per-env scales of mixed exploration (float32 ``[n, 1]``), or ``None`` where ``sigma_min`` is ``None`` or
    not below ``sigma`` (one constant scale)."""
    if sigma_min is None or not bool(torch.any(torch.as_tensor(sigma_min) < torch.as_tensor(sigma))):
        return None
    return _draw_scale(sigma, sigma_min, n, device)


def redraw_scale(scale: torch.Tensor, sigma: Scale, sigma_min: Scale, done: torch.Tensor) -> None:
    """Redraw ``scale`` (float32 ``[N, 1]``) in place where bool ``done [N]`` is set (a new episode, a new scale)."""
    scale.copy_(torch.where(done.unsqueeze(-1), _draw_scale(sigma, sigma_min, scale.shape[0], scale.device), scale))


class GaussianNoise:
    """Independent ``N(0, sigma_i^2)`` noise per env ``i`` and action dimension.

    With ``sigma_min`` below ``sigma`` each env draws its own ``sigma_i ~ U[sigma_min, sigma]`` and redraws it when its
    episode ends (mixed exploration, as in FastTD3: among thousands of envs some explore widely while others act
    almost greedily); the per-env scales (float32 ``[N, 1]``) are the noise's ``state``. Otherwise ``sigma_i = sigma``.
    """

    def __init__(self, num_envs: int, action_dim: int, sigma: Scale, device: torch.device,
                 sigma_min: Optional[float] = None) -> None:
        self.shape, self.sigma, self.device = (num_envs, action_dim), sigma, device
        self.sigma_min = sigma if sigma_min is None else sigma_min
        self.state = mixed_scale(sigma, sigma_min, num_envs, device)

    def sample(self) -> torch.Tensor:
        """float32 ``[N, act_dim]``."""
        scale = self.sigma if self.state is None else self.state
        return scale * torch.randn(self.shape, device=self.device)

    def reset(self, done: torch.Tensor) -> None:
        """Redraw the per-env scale where bool ``done [N]`` is set (constant sigma: nothing to do)."""
        if self.state is not None:
            redraw_scale(self.state, self.sigma, self.sigma_min, done)


class OUNoise:
    """Ornstein-Uhlenbeck noise (Uhlenbeck & Ornstein, 1930; used by Lillicrap et al., 2016), one state per env.

    ``x <- x + theta * (mu - x) * dt + sigma_i * sqrt(dt) * N(0, 1)``; ``reset(done)`` zeroes the state of the envs
    whose episode ended, so no env inherits another episode's noise. With ``sigma_min`` below ``sigma`` each env
    draws its own ``sigma_i ~ U[sigma_min, sigma]`` and redraws it when its episode ends, as :class:`GaussianNoise`
    does: the envs with a large ``sigma_i`` hold pushes long enough to swing a pole up, those with a small one act
    almost greedily and cover the states the deterministic policy visits. ``state`` is float32 ``[N, act_dim]``;
    ``scale`` the per-env ``sigma_i`` (float32 ``[N, 1]``) or ``None``.
    """

    def __init__(self, num_envs: int, action_dim: int, sigma: Scale, device: torch.device, theta: float = 0.15,
                 dt: float = 1e-2, sigma_min: Optional[float] = None) -> None:
        self.state = torch.zeros((num_envs, action_dim), device=device)
        self.sigma, self.theta, self.dt = sigma, theta, dt
        self.sigma_min = sigma if sigma_min is None else sigma_min
        self.scale = mixed_scale(sigma, sigma_min, num_envs, device)

    def sample(self) -> torch.Tensor:
        """Advance every env's process one step; float32 ``[N, act_dim]``."""
        sigma = self.sigma if self.scale is None else self.scale
        self.state += -self.theta * self.state * self.dt + sigma * self.dt ** 0.5 * torch.randn_like(self.state)
        return self.state

    def reset(self, done: torch.Tensor) -> None:
        """Zero the state (and redraw the per-env scale) where bool ``done [N]`` is set."""
        self.state.mul_((~done).unsqueeze(-1).to(self.state.dtype))
        if self.scale is not None:
            redraw_scale(self.scale, self.sigma, self.sigma_min, done)


Noise = Union[GaussianNoise, OUNoise]


def make_noise(s: Sequence[Any], num_envs: int, act_dim: int, device: torch.device) -> Noise:
    """The exploration noise of each agent's checked settings ``s[k]``
    (:class:`~isaac_rl.algorithms.settings.NoiseSettings`): ``noise`` (gaussian | ou), ``noise_sigma`` (per agent:
    a float ``[K N, 1]`` scale per env when the agents differ), ``noise_sigma_min`` (optional: a per-env scale) and
    ``ou_theta`` (OU); ``num_envs`` is ``K N``, agent ``k``'s envs rows ``k N .. (k + 1) N - 1``."""
    one, sigmas = s[0], [x.noise_sigma for x in s]
    sigma: Scale = float(sigmas[0])
    if len(set(sigmas)) > 1:
        sigma = torch.tensor(sigmas, dtype=torch.float32, device=device).repeat_interleave(num_envs // len(s))
        sigma = sigma.unsqueeze(-1)
    if one.noise == "ou":
        return OUNoise(num_envs, act_dim, sigma, device, theta=one.ou_theta, sigma_min=one.noise_sigma_min)
    return GaussianNoise(num_envs, act_dim, sigma, device, sigma_min=one.noise_sigma_min)


def noise_tensors(noise: Noise) -> List[torch.Tensor]:
    """The noise's per-env tensors, in a fixed order: OU's state, then a per-env scale where there is one (empty
    for constant-sigma Gaussian noise)."""
    tensors = [getattr(noise, "state", None), getattr(noise, "scale", None)]
    return [t for t in tensors if t is not None]
