"""Episode statistics kept on the device and read only at log intervals."""

from __future__ import annotations

from typing import Dict, Tuple

import torch


class EpisodeStats:
    """Per-env episode return and length on the device; sums of finished episodes read only at log time."""

    def __init__(self, num_envs: int, device: torch.device) -> None:
        self.ret = torch.zeros(num_envs, device=device)
        self.len = torch.zeros(num_envs, device=device)
        self.sums = torch.zeros(3, device=device)  # finished episodes: sum of returns, sum of lengths, count

    def update(self, reward: torch.Tensor, done: torch.Tensor) -> None:
        """Add one step's float ``[N]`` reward; fold the envs with bool ``[N]`` ``done`` into the sums."""
        self.ret += reward
        self.len += 1
        d = done.float()
        self.sums += torch.stack(((self.ret * d).sum(), (self.len * d).sum(), d.sum()))
        self.ret *= 1.0 - d
        self.len *= 1.0 - d

    def persistent_tensors(self) -> Tuple[torch.Tensor, ...]:
        """Running per-env return/length and the sums: what ``update`` changes in place."""
        return self.ret, self.len, self.sums

    def flush(self) -> Dict[str, float]:
        """One host read: mean return/length of episodes finished since the last flush (empty if none)."""
        ret_sum, len_sum, count = self.sums.tolist()
        self.sums.zero_()
        if count == 0:
            return {}
        return {"charts/episodic_return": ret_sum / count, "charts/episodic_length": len_sum / count,
                "charts/episodes": count}

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """Running per-env return/length."""
        return {"ret": self.ret.clone(), "len": self.len.clone(), "sums": self.sums.clone()}

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`."""
        self.ret.copy_(state["ret"])
        self.len.copy_(state["len"])
        self.sums.copy_(state["sums"])
