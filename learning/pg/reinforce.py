"""Policy-gradient learning: REINFORCE with a baseline, in PyTorch.

:class:`Reinforce` learns a categorical policy (an MLP from a flat ``Box``
observation to the logits of ``Discrete`` actions) by Monte Carlo policy
gradient: it plays ``batch_episodes`` episodes, computes each step's discounted
return-to-go ``G_t``, and ascends ``mean_t[log pi(a_t | s_t) * A_t]`` with the
advantage ``A_t = G_t - b(s_t)``.  The baseline ``b`` is a learned state-value
network (``"value"``, fitted to the returns by least squares), the batch's mean
return (``"mean"``) or nothing (``None``: plain REINFORCE).  A baseline that does
not depend on the action leaves the gradient's expectation alone and lowers its
variance (:meth:`Reinforce.policy_gradient` shows it).  Time-limit truncation ends
an episode like termination: the returns are Monte Carlo, nothing is bootstrapped.

Episodes are played on a NumPy copy of the policy's weights, refreshed after
every update, so acting costs no torch call per step; torch computes the
gradients, one batched forward and backward pass per update (on ``device``).

Randomness is explicit: ``seed`` fixes the initial weights (drawn under a forked
torch RNG, so the global torch generator is left alone) and the NumPy generator
that samples actions; ``train(seed=...)`` fixes the environment resets.  On the
CPU the same seeds give the same weights.  :meth:`Reinforce.state_dict` is a plain
dict of NumPy arrays, the form :func:`learning.transfer.transfer_weights` takes.

Example:
    >>> import gymnasium as gym
    >>> env = gym.make("CartPole-v1")
    >>> agent = Reinforce.for_env(env, hidden=(16,), seed=0, device="cpu")
    >>> weights = agent.state_dict()  # the policy's and the value network's
    >>> weights["policy.0.weight"].shape, weights["value.2.weight"].shape, len(weights)
    ((16, 4), (1, 16), 8)
    >>> obs, _ = env.reset(seed=0)
    >>> agent.probabilities(obs).round(2).tolist()  # a new policy is near uniform
    [0.5, 0.5]
    >>> batch = agent.collect(env, episodes=3, seed=0)
    >>> [t.obs.shape[1] for t in batch], all(len(t.actions) == len(t.rewards) for t in batch)
    ([4, 4, 4], True)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from learning.errors import LearningError
from learning.history import Evaluation, TrainingHistory
from learning.pg.core import (
    BASELINES,
    Baseline,
    BoxDiscreteEnv,
    Trajectory,
    advantages,
    discounted_returns,
    env_spaces,
)

__all__ = ["Baseline", "BoxDiscreteEnv", "Reinforce", "Trajectory", "advantages",
           "discounted_returns"]


def _mlp(sizes: Sequence[int], out_scale: float) -> nn.Sequential:
    linears = [nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(sizes)]
    with torch.no_grad():  # a small last layer: a near-uniform initial policy
        linears[-1].weight.mul_(out_scale)
        linears[-1].bias.zero_()
    layers: list[nn.Module] = []
    for linear in linears[:-1]:
        layers += [linear, nn.Tanh()]
    return nn.Sequential(*layers, linears[-1])


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads (``None``: as set), restored afterwards."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class Reinforce:
    """REINFORCE with a baseline for discrete actions over flat ``Box`` observations.

    Args:
        obs_dim: size of the (flattened) observation.
        n_actions: number of discrete actions.
        hidden: sizes of the hidden layers (tanh) of the policy and the value network.
        lr: Adam learning rate of the policy.
        gamma: discount factor in ``(0, 1]``.
        baseline: ``"value"`` (a learned state-value network), ``"mean"`` (the batch's
            mean return) or ``None`` (plain REINFORCE).
        entropy_coef: weight of the policy's entropy bonus.
        normalize_advantages: divide each batch's advantages by their std.
        seed: seed of the initial weights and of the action sampling.
        device: ``"auto"`` (cuda when available, else cpu), ``"cpu"``, ``"cuda"``...
        value_lr: Adam learning rate of the value network (default: ``lr``).
        value_steps: gradient steps on the value network per batch.
        torch_threads: torch's intra-op threads while computing gradients on the CPU
            (the process-wide setting is restored afterwards); ``None`` leaves it as is.
            One, the default, because over networks this small more threads mostly wait
            for each other, the longer the busier the machine.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (64,),
                 lr: float = 0.01, gamma: float = 0.99, baseline: Baseline = "value",
                 entropy_coef: float = 0.0, normalize_advantages: bool = True, seed: int = 0,
                 device: str = "auto", *, value_lr: float | None = None,
                 value_steps: int = 5, torch_threads: int | None = 1) -> None:
        value_lr = lr if value_lr is None else value_lr
        if obs_dim < 1 or n_actions < 1:
            raise LearningError(f"need obs_dim >= 1 and n_actions >= 1, got {obs_dim}, "
                                f"{n_actions}")
        if any(int(h) < 1 for h in hidden):
            raise LearningError(f"hidden layer sizes must be >= 1, got {list(hidden)}")
        for name, value in (("lr", lr), ("value_lr", value_lr)):
            if not (math.isfinite(value) and value > 0):
                raise LearningError(f"{name} must be > 0, got {value}")
        if not 0.0 < gamma <= 1.0:
            raise LearningError(f"gamma must be in (0, 1], got {gamma}")
        if baseline not in BASELINES:
            raise LearningError(f"baseline must be 'value', 'mean' or None, got {baseline!r}")
        if entropy_coef < 0:
            raise LearningError(f"entropy_coef must be >= 0, got {entropy_coef}")
        if value_steps < 1:
            raise LearningError(f"value_steps must be >= 1, got {value_steps}")
        if torch_threads is not None and torch_threads < 1:
            raise LearningError(f"torch_threads must be >= 1 or None, got {torch_threads}")
        self.obs_dim, self.n_actions = int(obs_dim), int(n_actions)
        self.hidden = tuple(int(h) for h in hidden)
        self.lr, self.value_lr, self.gamma = float(lr), float(value_lr), float(gamma)
        self.baseline: Baseline = baseline
        self.entropy_coef = float(entropy_coef)
        self.normalize_advantages = bool(normalize_advantages)
        self.value_steps = int(value_steps)
        self.torch_threads = torch_threads
        self.seed = int(seed)
        try:
            self.device = torch.device(
                ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device)
        except RuntimeError as exc:
            raise LearningError(f"device must be 'auto' or a torch device, got {device!r}") \
                from exc
        self.rng = np.random.default_rng(seed)
        sizes = (self.obs_dim, *self.hidden)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.policy = _mlp((*sizes, self.n_actions), 0.01).to(self.device)
            self.value = (_mlp((*sizes, 1), 1.0).to(self.device) if baseline == "value"
                          else None)
        # built on the first update: torch.optim imports torch._dynamo (seconds), which a
        # learner that only acts (a loaded policy) never needs
        self._optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer | None] | None = None
        self.episodes = 0
        self.updates = 0
        self._sync()

    @classmethod
    def for_env(cls, env: BoxDiscreteEnv, **kwargs: Any) -> Reinforce:
        """A learner sized for ``env``'s spaces (``kwargs`` go to the constructor)."""
        obs_dim, n_actions, _ = env_spaces(env)
        return cls(obs_dim, n_actions, **kwargs)

    # --- acting ----------------------------------------------------------------------
    def _sync(self) -> None:
        """Refresh the NumPy copy of the policy's weights that acting runs on."""
        linears = [m for m in self.policy if isinstance(m, nn.Linear)]
        self._layers = [(m.weight.detach().cpu().numpy().copy(),
                         m.bias.detach().cpu().numpy().copy()) for m in linears]

    def _logits(self, obs: Any) -> np.ndarray:
        h = np.asarray(obs, dtype=np.float32).reshape(-1)
        if h.shape[0] != self.obs_dim:
            raise LearningError(f"observation has {h.shape[0]} values, the policy takes "
                                f"{self.obs_dim}")
        for weight, bias in self._layers[:-1]:
            h = np.tanh(weight @ h + bias)
        weight, bias = self._layers[-1]
        return np.asarray(weight @ h + bias, dtype=np.float64)

    def probabilities(self, obs: Any) -> np.ndarray:
        """The policy's action probabilities in ``obs``."""
        logits = self._logits(obs)
        e = np.exp(logits - logits.max())
        return np.asarray(e / e.sum())

    def act(self, obs: Any, greedy: bool = False) -> int:
        """An action sampled from the policy in ``obs`` (the most probable with ``greedy``)."""
        if greedy:
            return int(self._logits(obs).argmax())
        logits = self._logits(obs)
        cdf = np.exp(logits - logits.max()).cumsum()
        return min(int((cdf <= self.rng.random() * cdf[-1]).sum()), self.n_actions - 1)

    def _play(self, env: BoxDiscreteEnv, seed: int | None, greedy: bool,
              max_steps: int | None, start: int) -> Trajectory:
        obs, _ = env.reset(seed=seed)
        observations: list[np.ndarray] = []
        actions: list[int] = []
        rewards: list[float] = []
        terminated = False
        while max_steps is None or len(rewards) < max_steps:
            action = self.act(obs, greedy=greedy)
            observations.append(np.asarray(obs, dtype=np.float32).reshape(-1))
            actions.append(action)
            obs, reward, terminated, truncated, _ = env.step(start + action)
            rewards.append(float(reward))
            if terminated or truncated:
                break
        return Trajectory(np.stack(observations), np.asarray(actions, dtype=np.int64),
                          np.asarray(rewards), bool(terminated))

    def collect(self, env: BoxDiscreteEnv, episodes: int, seed: int | None = None, *,
                max_steps: int | None = None) -> list[Trajectory]:
        """Play ``episodes`` episodes with the stochastic policy, learning nothing."""
        _, _, start = self._check_env(env)
        return [self._play(env, seed if i == 0 else None, False, max_steps, start)
                for i in range(episodes)]

    # --- learning --------------------------------------------------------------------
    def _surrogate(self, batch: Sequence[Trajectory], baseline: Baseline,
                   normalize: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The policy loss whose gradient is the REINFORCE estimate, the observations and
        the returns of ``batch``."""
        obs = torch.from_numpy(np.concatenate([t.obs for t in batch])).to(self.device)
        actions = torch.from_numpy(np.concatenate([t.actions for t in batch])).to(self.device)
        returns = np.concatenate([discounted_returns(t.rewards, self.gamma) for t in batch])
        values = None
        if baseline == "value":
            if self.value is None:
                raise LearningError("baseline 'value' needs a learner built with it")
            with torch.no_grad():
                values = self.value(obs).squeeze(-1).cpu().numpy().astype(np.float64)
        adv = torch.as_tensor(advantages(returns, baseline, values, normalize),
                              dtype=torch.float32, device=self.device)
        log_probs = torch.log_softmax(self.policy(obs), -1)
        loss = -(log_probs.gather(1, actions.unsqueeze(1)).squeeze(1) * adv).mean()
        if self.entropy_coef:
            loss = loss + self.entropy_coef * (log_probs.exp() * log_probs).sum(-1).mean()
        return loss, obs, torch.as_tensor(returns, dtype=torch.float32, device=self.device)

    def policy_gradient(self, batch: Sequence[Trajectory], baseline: Baseline,
                        normalize: bool = False) -> np.ndarray:
        """The REINFORCE estimate of the gradient of the expected return (plus the
        entropy bonus, if any) from ``batch``, flattened over the policy's parameters;
        nothing is updated.

        What the baseline does is visible here: over independent batches, the
        estimates with ``"value"`` (a fitted value network) vary less than with ``None``.
        """
        with self._threads():
            loss, _, _ = self._surrogate(batch, baseline, normalize)
            grads = torch.autograd.grad(loss, list(self.policy.parameters()))
        return -torch.cat([g.reshape(-1) for g in grads]).cpu().numpy().astype(np.float64)

    def _threads(self) -> contextlib.AbstractContextManager[None]:
        return _threads(self.torch_threads if self.device.type == "cpu" else None)

    def update(self, batch: Sequence[Trajectory]) -> None:
        """One policy-gradient step on ``batch``; with the value baseline, the advantages
        use the value network as it was, then it takes ``value_steps`` steps towards
        the batch's returns."""
        if self._optimizers is None:
            self._optimizers = (
                torch.optim.Adam(self.policy.parameters(), lr=self.lr),
                torch.optim.Adam(self.value.parameters(), lr=self.value_lr)
                if self.value is not None else None)
        policy_opt, value_opt = self._optimizers
        with self._threads():
            loss, obs, returns = self._surrogate(batch, self.baseline,
                                                 self.normalize_advantages)
            policy_opt.zero_grad()
            loss.backward()
            policy_opt.step()
            for _ in range(self.value_steps):
                if self.value is None or value_opt is None:
                    break
                value_loss = nn.functional.mse_loss(self.value(obs).squeeze(-1), returns)
                value_opt.zero_grad()
                value_loss.backward()
                value_opt.step()
        self.updates += 1
        self._sync()

    def train(self, env: BoxDiscreteEnv, episodes: int, *, seed: int | None = 0,
              batch_episodes: int = 8, eval_env: BoxDiscreteEnv | None = None,
              eval_every: int | None = None, eval_episodes: int = 100,
              eval_seed: int | None = None, target: float | None = None,
              max_steps: int | None = None) -> TrainingHistory:
        """Train for up to ``episodes`` episodes, one policy update per ``batch_episodes``.

        Each training episode resets ``env`` with a seed drawn from ``seed``, so
        evaluations on the same environment do not disturb training.  With
        ``eval_every`` the greedy policy is evaluated (on ``eval_env``, default
        ``env``; ``eval_episodes`` episodes from ``eval_seed``, default ``seed + 1``)
        before training, after the batch that crosses each multiple of
        ``eval_every`` and at the end; training stops at the first evaluation whose
        mean return reaches ``target`` (which then also counts an episode as a
        success).  ``max_steps`` caps episodes of environments without a time limit.
        """
        if episodes < 0 or batch_episodes < 1:
            raise LearningError(f"need episodes >= 0 and batch_episodes >= 1, got {episodes}, "
                                f"{batch_episodes}")
        if eval_every is not None and eval_every < 1:
            raise LearningError(f"eval_every must be >= 1, got {eval_every}")
        if target is not None and not eval_every:
            raise LearningError(f"target={target} needs eval_every: it is checked at "
                                "evaluations")
        _, _, start = self._check_env(env)
        if eval_env is not None:
            self._check_env(eval_env)
        if eval_seed is None and seed is not None:
            eval_seed = seed + 1
        reset_seeds = np.random.default_rng(seed)
        history = TrainingHistory()

        def evaluate_now() -> bool:
            ev = self.evaluate(eval_env or env, eval_episodes, eval_seed, max_steps=max_steps,
                               success_threshold=target)
            history.evaluations.append((self.episodes, ev))
            return target is not None and ev.mean_return >= target

        if eval_every and evaluate_now():
            return history
        done, next_eval = 0, eval_every or 0
        while done < episodes:
            batch = [self._play(env, int(reset_seeds.integers(2**31)), False, max_steps, start)
                     for _ in range(min(batch_episodes, episodes - done))]
            self.update(batch)
            history.returns += [t.ret for t in batch]
            history.lengths += [len(t.rewards) for t in batch]
            done += len(batch)
            self.episodes += len(batch)
            if eval_every and done >= next_eval:
                next_eval += eval_every * ((done - next_eval) // eval_every + 1)
                if evaluate_now():
                    return history
        if eval_every and history.evaluations[-1][0] != self.episodes:
            evaluate_now()
        return history

    def evaluate(self, env: BoxDiscreteEnv, episodes: int = 100, seed: int | None = None, *,
                 max_steps: int | None = None,
                 success_threshold: float | None = None) -> Evaluation:
        """Run the greedy policy for ``episodes`` episodes (``env`` seeded on the first reset).

        An episode succeeds when its return reaches ``success_threshold`` or, by
        default, when it was not terminated (it ran to the time limit or
        ``max_steps``: CartPole balanced to the end).
        """
        if episodes < 1:
            raise LearningError(f"evaluate needs episodes >= 1, got {episodes}")
        _, _, start = self._check_env(env)
        returns, lengths, wins = [], [], 0
        for i in range(episodes):
            ep = self._play(env, seed if i == 0 else None, True, max_steps, start)
            returns.append(ep.ret)
            lengths.append(len(ep.rewards))
            wins += (not ep.terminated if success_threshold is None
                     else ep.ret >= success_threshold)
        return Evaluation(mean_return=float(np.mean(returns)), success_rate=wins / episodes,
                          mean_length=float(np.mean(lengths)), episodes=episodes)

    def _check_env(self, env: BoxDiscreteEnv) -> tuple[int, int, int]:
        obs_dim, n_actions, start = env_spaces(env)
        if (obs_dim, n_actions) != (self.obs_dim, self.n_actions):
            raise LearningError(
                f"environment has {obs_dim} observation values and {n_actions} actions "
                f"({env.observation_space}, {env.action_space}); the policy was built for "
                f"{self.obs_dim} and {self.n_actions}")
        return obs_dim, n_actions, start

    # --- weights and persistence -----------------------------------------------------
    def _modules(self) -> dict[str, nn.Module]:
        return {"policy": self.policy, **({"value": self.value} if self.value else {})}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every weight as a NumPy array, named ``policy.<layer>.weight``, ``value.…``."""
        return {f"{prefix}.{name}": tensor.detach().cpu().numpy().copy()
                for prefix, module in self._modules().items()
                for name, tensor in module.state_dict().items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray | torch.Tensor], *,
                        strict: bool = True) -> None:
        """Set weights from ``state`` (arrays or tensors, named as :meth:`state_dict`).

        With ``strict`` every weight must be given; otherwise missing ones (say, the
        value network's, when only a policy is transferred) keep their values.
        Unknown names and shape mismatches are always errors.
        """
        own = self.state_dict()
        unknown = sorted(set(state) - set(own))
        if unknown:
            raise LearningError(f"unknown weights {unknown}; this learner has {sorted(own)}")
        missing = sorted(set(own) - set(state))
        if strict and missing:
            raise LearningError(f"missing weights {missing}")
        arrays = {name: (value.detach().cpu().numpy() if isinstance(value, torch.Tensor)
                         else np.asarray(value)) for name, value in state.items()}
        for name, arr in arrays.items():
            if arr.shape != own[name].shape:
                raise LearningError(f"weight {name!r}: shape {arr.shape} != the learner's "
                                    f"{own[name].shape}")
        with torch.no_grad():
            for prefix, module in self._modules().items():
                for name, tensor in module.state_dict().items():
                    if f"{prefix}.{name}" in arrays:
                        tensor.copy_(torch.from_numpy(arrays[f"{prefix}.{name}"]))
        self._sync()

    def config(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this learner (device aside)."""
        return {"obs_dim": self.obs_dim, "n_actions": self.n_actions,
                "hidden": list(self.hidden), "lr": self.lr, "gamma": self.gamma,
                "baseline": self.baseline, "entropy_coef": self.entropy_coef,
                "normalize_advantages": self.normalize_advantages, "seed": self.seed,
                "value_lr": self.value_lr, "value_steps": self.value_steps,
                "torch_threads": self.torch_threads}

    def save(self, path: str | Path) -> None:
        """Write the configuration, counters and weights (not Adam's state) to ``path``
        (an ``.npz`` archive, written exactly at ``path``, no pickles)."""
        meta = {**self.config(), "episodes": self.episodes, "updates": self.updates}
        arrays = {f"w/{name}": arr for name, arr in self.state_dict().items()}
        with open(path, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> Reinforce:
        """Rebuild a learner written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                weights = {key[2:]: data[key] for key in data.files if key.startswith("w/")}
            episodes, updates = meta.pop("episodes"), meta.pop("updates")
            agent = cls(**meta, device=device)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LearningError(f"{path}: not a saved Reinforce learner ({exc})") from exc
        agent.load_state_dict(weights)
        agent.episodes, agent.updates = int(episodes), int(updates)
        return agent
