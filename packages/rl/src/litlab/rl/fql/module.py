"""Lightning wrappers of the offline RL agents: ``FlowQLearning`` (arXiv 2502.02538), ``FlowBC``, ``IQL``, ``ReBRAC``.

Thin modules with manual optimization: one ``agent.loss`` -> backward -> Adam -> ``agent.after_update``
per training step, logging the loss's ``info`` under ``train/``. The agents are plain ``nn.Module``s
(``agent.py``, ``iql.py``) so that benchmarks and CUDA graphs use the same update without Lightning.

``compile_mode`` runs ``agent.loss`` (forward, and through AOTAutograd the backward) under ``torch.compile``;
the optimizer step stays eager. For the fastest update outside Lightning see ``graph.py``.

``litlab test`` rolls the policy out for the data's ``test_episodes`` held-out episodes (reset seeds from
``test_seed``) and reports ``test/return`` and the D4RL normalized return
100 (R - R_random) / (R_expert - R_random) (mean and std over episodes); ``litlab predict`` writes one row per
episode (seed, return, normalized return).

The observation and action sizes come from the data: the ``litlab`` command links the DataModule's
``obs_dim``/``action_dim`` to them (a hand-set value that disagrees is an error); in Python, leave them unset
and they are read from the DataModule in ``setup`` (and saved in the hyperparameters, so checkpoints reload).
"""

from __future__ import annotations

import numpy as np
import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from litlab.rl.eval.rollout import evaluate_episodes
from litlab.rl.fql.agent import FlowBCAgent, FQLAgent
from litlab.rl.fql.graph import COMPILE_MODES as INDUCTOR_MODES
from litlab.rl.fql.graph import compile_fn
from litlab.rl.fql.iql import IQLAgent
from litlab.rl.fql.rebrac import ReBRACAgent

SHOWN = ("critic_loss", "bc_flow_loss", "distill_loss", "q_mean", "actor_loss")
COMPILE_MODES = (*INDUCTOR_MODES, "aot_eager")  # aot_eager: traced only (the backend of that name)


class OfflineRLModule(LightningModule):
    """Shared plumbing: lazy agent construction from data sizes, manual optimization, acting."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.agent: nn.Module | None = None
        self._compiled_loss = None

    def _init_agent(self) -> None:
        """Validate the common hyperparameters; build the agent now if both sizes are given."""
        h = self.hparams
        if h.lr <= 0:
            raise ValueError(f"lr must be positive, got {h.lr}")
        if h.compile_mode is not None and h.compile_mode not in COMPILE_MODES:
            raise ValueError(f"compile_mode must be one of {COMPILE_MODES} or unset, got {h.compile_mode!r}")
        for name in ("obs_dim", "action_dim"):
            if h[name] is not None and h[name] < 1:
                raise ValueError(f"{name} must be a positive int or unset, got {h[name]}")
        if h.obs_dim is not None and h.action_dim is not None:
            self.agent = self.build_agent(h.obs_dim, h.action_dim)

    def build_agent(self, obs_dim: int, action_dim: int) -> nn.Module:
        raise NotImplementedError

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        dims = (getattr(dm, "obs_dim", None), getattr(dm, "action_dim", None))
        if self.agent is None:
            if None in dims:
                raise ValueError(
                    f"{type(self).__name__}: obs_dim/action_dim not given and the datamodule "
                    f"({type(dm).__name__}) does not provide them; use OfflineRLDataModule or set both"
                )
            self.hparams.obs_dim, self.hparams.action_dim = dims
            self.agent = self.build_agent(*dims)
        elif None not in dims and dims != (self.hparams.obs_dim, self.hparams.action_dim):
            raise ValueError(
                f"{type(self).__name__}: model built for (obs_dim, action_dim) = "
                f"{(self.hparams.obs_dim, self.hparams.action_dim)} but the data has {dims}"
            )

    def agent_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """``agent.loss(batch)``, through ``torch.compile`` when ``compile_mode`` is set (compiled once)."""
        mode = self.hparams.compile_mode
        if mode is None:
            return self.agent.loss(batch)
        if self._compiled_loss is None:
            backend = "aot_eager" if mode == "aot_eager" else "inductor"
            self._compiled_loss = compile_fn(self.agent.loss, "default" if backend == "aot_eager" else mode, backend)
        return self._compiled_loss(batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.agent.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=self.hparams.lr)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        opt = self.optimizers()
        opt.zero_grad()
        loss, info = self.agent_loss(batch)
        self.manual_backward(loss)
        opt.step()
        self.agent.after_update()
        self.log_dict({f"train/{k}": v for k, v in info.items()}, on_step=True, on_epoch=False)
        self.log_dict({k: v for k, v in info.items() if k in SHOWN}, prog_bar=True, logger=False)
        return loss.detach()

    def rollouts(self, seeds: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(returns, normalized returns) [E] of episodes reset with ``seeds`` (consecutive) in the data's env."""
        dm = getattr(self.trainer, "datamodule", None)
        meta = getattr(dm, "metadata", None)
        if meta is None:
            raise ValueError(f"{type(self).__name__}: test/predict need a datamodule with dataset metadata "
                             "(OfflineRLDataModule)")  # fmt: skip
        first = int(seeds[0])
        gen = torch.Generator(device=self.device).manual_seed(first)

        def policy(obs: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
            return self.sample_actions(x, gen).cpu().numpy().astype(np.float64)

        returns = evaluate_episodes(meta.env_id, policy, len(seeds), first, dm.max_episode_steps)
        return returns, np.asarray(meta.normalized_score(returns))

    def test_step(self, seeds: Tensor, batch_idx: int) -> None:
        returns, scores = self.rollouts(seeds)
        n = len(returns)
        self.log_dict({"test/return": float(returns.mean()), "test/normalized_return": float(scores.mean()),
                       "test/normalized_return_std": float(scores.std()), "test/episodes": float(n)},
                      batch_size=n)  # fmt: skip

    def predict_step(self, seeds: Tensor, batch_idx: int) -> list[dict]:
        returns, scores = self.rollouts(seeds)
        return [{"episode": i, "seed": int(s), "return": float(r), "normalized_return": float(z)}
                for i, (s, r, z) in enumerate(zip(seeds.tolist(), returns, scores))]  # fmt: skip

    @torch.no_grad()
    def sample_actions(self, obs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Actions in [-1, 1] for a batch of observations (B, obs_dim) -> (B, action_dim)."""
        if self.agent is None:
            raise RuntimeError(f"{type(self).__name__} has no agent yet: give obs_dim/action_dim or fit first")
        return self.agent.sample_actions(obs, generator)


class FlowQLearning(OfflineRLModule):
    """Flow Q-Learning: flow BC policy, one-step policy distilled from it and trained to maximize Q."""

    def __init__(
        self,
        alpha: float = 10.0,
        flow_steps: int = 10,
        hidden_dims: list[int] = [512, 512, 512, 512],  # noqa: B006 (shown in --help)
        num_critics: int = 2,
        gamma: float = 0.99,
        tau: float = 0.005,
        q_agg: str = "mean",
        normalize_q_loss: bool = False,
        lr: float = 3e-4,
        compile_mode: str | None = None,
        obs_dim: int | None = None,
        action_dim: int | None = None,
    ) -> None:
        """
        Args:
            alpha: weight of the distillation loss; the key knob (sweep 0.03..10 with normalize_q_loss).
            flow_steps: Euler steps of the flow policy (distillation target and BC sampling).
            hidden_dims: hidden widths of every MLP (flow field, one-step policy, critics).
            num_critics: size of the critic ensemble.
            gamma: discount factor.
            tau: Polyak rate of the target critic.
            q_agg: 'mean' or 'min' over the target critics in the TD target.
            normalize_q_loss: scale the policy Q term by sg(1 / mean|Q|).
            lr: Adam learning rate (one optimizer for all modules).
            compile_mode: torch.compile the loss (forward and backward): 'default', 'reduce-overhead' (adds
                CUDA graphs on a GPU) or 'max-autotune' (inductor), 'aot_eager' (trace only); unset: eager.
            obs_dim: observation size; read from the data when unset.
            action_dim: action size; read from the data when unset.
        """
        super().__init__()
        self.save_hyperparameters()
        self._init_agent()

    def build_agent(self, obs_dim: int, action_dim: int) -> nn.Module:
        h = self.hparams
        return FQLAgent(
            obs_dim,
            action_dim,
            h.hidden_dims,
            h.num_critics,
            h.alpha,
            h.flow_steps,
            h.gamma,
            h.tau,
            h.q_agg,
            h.normalize_q_loss,
        )


class FlowBC(OfflineRLModule):
    """Behavior cloning with the flow policy alone (FQL's BC component), sampled by Euler integration."""

    def __init__(
        self,
        flow_steps: int = 10,
        hidden_dims: list[int] = [512, 512, 512, 512],  # noqa: B006
        lr: float = 3e-4,
        compile_mode: str | None = None,
        obs_dim: int | None = None,
        action_dim: int | None = None,
    ) -> None:
        """
        Args:
            flow_steps: Euler steps when sampling actions.
            hidden_dims: hidden widths of the velocity field.
            lr: Adam learning rate.
            compile_mode: torch.compile the loss (forward and backward): 'default', 'reduce-overhead' (adds
                CUDA graphs on a GPU) or 'max-autotune' (inductor), 'aot_eager' (trace only); unset: eager.
            obs_dim: observation size; read from the data when unset.
            action_dim: action size; read from the data when unset.
        """
        super().__init__()
        self.save_hyperparameters()
        self._init_agent()

    def build_agent(self, obs_dim: int, action_dim: int) -> nn.Module:
        return FlowBCAgent(obs_dim, action_dim, self.hparams.hidden_dims, self.hparams.flow_steps)


class IQL(OfflineRLModule):
    """Implicit Q-Learning (arXiv 2110.06169) with the same networks and batch as FQL."""

    def __init__(
        self,
        expectile: float = 0.7,
        beta: float = 3.0,
        hidden_dims: list[int] = [512, 512, 512, 512],  # noqa: B006
        gamma: float = 0.99,
        tau: float = 0.005,
        lr: float = 3e-4,
        compile_mode: str | None = None,
        obs_dim: int | None = None,
        action_dim: int | None = None,
    ) -> None:
        """
        Args:
            expectile: tau of the expectile value loss (0.7 for MuJoCo locomotion).
            beta: inverse temperature of advantage-weighted regression (3.0 for MuJoCo locomotion).
            hidden_dims: hidden widths of every MLP.
            gamma: discount factor.
            tau: Polyak rate of the target critic.
            lr: Adam learning rate.
            compile_mode: torch.compile the loss (forward and backward): 'default', 'reduce-overhead' (adds
                CUDA graphs on a GPU) or 'max-autotune' (inductor), 'aot_eager' (trace only); unset: eager.
            obs_dim: observation size; read from the data when unset.
            action_dim: action size; read from the data when unset.
        """
        super().__init__()
        self.save_hyperparameters()
        self._init_agent()

    def build_agent(self, obs_dim: int, action_dim: int) -> nn.Module:
        h = self.hparams
        return IQLAgent(obs_dim, action_dim, h.hidden_dims, h.expectile, h.beta, h.gamma, h.tau)


class ReBRAC(OfflineRLModule):
    """ReBRAC (arXiv 2305.09836): TD3+BC with LayerNorm critics and actor + critic behavior penalties.

    Needs the dataset's next actions: use ``OfflineRLDataModule`` with ``with_next_actions: true``.
    """

    def __init__(
        self,
        beta_actor: float = 0.01,
        beta_critic: float = 0.01,
        actor_freq: int = 2,
        policy_noise: float = 0.2,
        noise_clip: float = 0.5,
        hidden_dims: list[int] = [512, 512, 512, 512],  # noqa: B006
        gamma: float = 0.99,
        tau: float = 0.005,
        lr: float = 3e-4,
        compile_mode: str | None = None,
        obs_dim: int | None = None,
        action_dim: int | None = None,
    ) -> None:
        """
        Args:
            beta_actor: weight of the actor's behavior penalty ||pi(s) - a||^2 (tuned per dataset).
            beta_critic: weight of the critic's penalty ||a' - a'_dataset||^2 in the TD target (per dataset).
            actor_freq: the actor (and the targets) update every actor_freq-th step (TD3's delay).
            policy_noise: std of the target-policy smoothing noise.
            noise_clip: the smoothing noise is clipped to +-noise_clip.
            hidden_dims: hidden widths of the actor and of each critic.
            gamma: discount factor.
            tau: Polyak rate of both targets.
            lr: Adam learning rate (one optimizer for actor and critic).
            compile_mode: torch.compile the loss (forward and backward): 'default', 'reduce-overhead' (adds
                CUDA graphs on a GPU) or 'max-autotune' (inductor), 'aot_eager' (trace only); unset: eager.
            obs_dim: observation size; read from the data when unset.
            action_dim: action size; read from the data when unset.
        """
        super().__init__()
        self.save_hyperparameters()
        self._init_agent()

    def build_agent(self, obs_dim: int, action_dim: int) -> nn.Module:
        h = self.hparams
        return ReBRACAgent(
            obs_dim,
            action_dim,
            h.hidden_dims,
            h.beta_actor,
            h.beta_critic,
            h.actor_freq,
            h.policy_noise,
            h.noise_clip,
            h.gamma,
            h.tau,
        )
