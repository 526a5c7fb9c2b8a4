"""Episode statistics kept on the device and read only at log intervals."""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch


class EpisodeStats:
    """Per-env episode return and length on the device; each agent's sums of finished episodes (its envs are an
    env-major block of ``num_envs / agents``) read only at log time."""

    def __init__(self, num_envs: int, device: torch.device, agents: int = 1) -> None:
        self.agents = agents
        self.ret = torch.zeros(num_envs, device=device)
        self.len = torch.zeros(num_envs, device=device)
        self.sums = torch.zeros((agents, 3), device=device)  # per agent: sum of returns, sum of lengths, count

    def update(self, reward: torch.Tensor, done: torch.Tensor) -> None:
        """Add one step's float ``[N]`` reward; fold the envs with bool ``[N]`` ``done`` into the sums."""
        self.ret += reward
        self.len += 1
        d = done.float()
        per_agent = torch.stack((self.ret * d, self.len * d, d)).view(3, self.agents, -1).sum(-1)  # [3, K]
        self.sums += per_agent.t()
        self.ret *= 1.0 - d
        self.len *= 1.0 - d

    def drop_running(self) -> None:
        """Forget the episodes in progress (running return and length of every env): the env was reset outside
        training (an evaluation on the training env), so they will never finish as training episodes and must not
        count the evaluation's steps (an unreset length would run past ``max_episode_steps``)."""
        self.ret.zero_()
        self.len.zero_()

    def persistent_tensors(self) -> Tuple[torch.Tensor, ...]:
        """Running per-env return/length and the sums: what ``update`` changes in place."""
        return self.ret, self.len, self.sums

    def flush(self) -> Dict[str, float]:
        """One host read: mean return/length of episodes finished since the last flush (empty if none), of all
        agents together and, for several agents, of each (``agent<k>/charts/...``)."""
        rows = self.sums.tolist()
        self.sums.zero_()
        out = _means("", [sum(col) for col in zip(*rows)])
        if self.agents > 1:
            for k, row in enumerate(rows):
                out.update(_means(f"agent{k}/", row))
        return out

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """Running per-env return/length."""
        return {"ret": self.ret.clone(), "len": self.len.clone(), "sums": self.sums.clone()}

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`."""
        self.ret.copy_(state["ret"])
        self.len.copy_(state["len"])
        self.sums.copy_(state["sums"].view(self.sums.shape))


def _means(prefix: str, row: List[float]) -> Dict[str, float]:
    """Episode means from one row of sums (nothing when no episode finished)."""
    ret_sum, len_sum, count = row
    if count == 0:
        return {}
    return {f"{prefix}charts/episodic_return": ret_sum / count, f"{prefix}charts/episodic_length": len_sum / count,
            f"{prefix}charts/episodes": count}
