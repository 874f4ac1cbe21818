"""A trained RLlib policy without its Algorithm: load the RLModule, act greedily, play episodes.

:meth:`RLPolicy.from_checkpoint` reads only the RLModule out of a checkpoint that
:class:`learning.rllib.trainer.RLTrainer` (or RLlib's ``Algorithm.save_to_path``)
wrote: no Algorithm, no env runners, no learners, so an agent actor can load a
policy in a second and act with it (the ``rl_act`` task kind does).

RLlib restores module weights with ``load_state_dict(strict=False)``, so a
checkpoint whose keys do not match the network leaves those layers at their
random initial values without a word.  Every load here compares the loaded
network with the state file, tensor by tensor, and raises
:class:`~learning.errors.LearningError` naming the missing or mismatched weights.

Only the RLModule is loaded: env-to-module connector state (observation filters)
is not; raymas trainers configure none, so greedy actions equal the trainer's.
Checkpoints are pickles, as in RLlib: load only those you trust.

Example (needs a checkpoint; see ``tests/integration/learning/test_rllib.py``)::

    policy = RLPolicy.from_checkpoint("/tmp/ppo-cartpole")
    action = policy.act(observation)                # greedy
    score = play(gymnasium.make("CartPole-v1"), policy, episodes=10, seed=0)
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from learning.errors import LearningError
from learning.history import Evaluation

__all__ = ["MODULES_DIR", "RLPolicy", "check_weights", "module_dirs", "play", "play_multi",
           "saved_module_state"]

#: where an Algorithm checkpoint keeps its (Multi)RLModule
MODULES_DIR = Path("learner_group") / "learner" / "rl_module"
_STATE_FILE = "module_state"


def module_dirs(path: str | Path) -> dict[str, Path]:
    """The single-agent RLModule directories of a checkpoint, by policy (module) id.

    ``path`` is an Algorithm checkpoint, its ``rl_module`` directory, or one module's
    directory (then the id is the directory's name).
    """
    root = Path(path)
    if not root.is_dir():
        raise LearningError(f"no checkpoint at {str(root)!r}")
    has_state = any((root / _STATE_FILE).with_suffix(ext).exists() for ext in (".pkl", ".msgpack"))
    if has_state and not (root / MODULES_DIR).exists():
        subdirs = [d for d in sorted(root.iterdir()) if d.is_dir()]
        if not subdirs:  # one module's own directory
            return {root.name: root}
        return {d.name: d for d in subdirs}
    modules = root / MODULES_DIR
    if not modules.is_dir():
        raise LearningError(f"{str(root)!r} is not an RLlib checkpoint: it has no "
                            f"{MODULES_DIR} directory")
    found = {d.name: d for d in sorted(modules.iterdir()) if d.is_dir()}
    if not found:
        raise LearningError(f"checkpoint {str(root)!r} holds no RLModule")
    return found


def saved_module_state(module_dir: str | Path) -> dict[str, Any]:
    """The weights a module directory holds (RLlib's ``module_state`` file)."""
    base = Path(module_dir) / _STATE_FILE
    if base.with_suffix(".pkl").exists():
        with base.with_suffix(".pkl").open("rb") as f:
            return dict(pickle.load(f))
    if base.with_suffix(".msgpack").exists():
        from ray.rllib.utils.checkpoints import try_import_msgpack

        msgpack = try_import_msgpack(error=True)
        with base.with_suffix(".msgpack").open("rb") as f:
            return dict(msgpack.load(f, strict_map_key=False))
    raise LearningError(f"{str(module_dir)!r} has no {_STATE_FILE}.pkl: not an RLModule "
                        "checkpoint, or written only in part")


def check_weights(live: Mapping[str, Any], saved: Mapping[str, Any], where: str) -> None:
    """Raise unless every tensor of ``live`` equals the one of the same name in ``saved``.

    Keys only in ``saved`` are allowed when they are the training-only layers an
    inference module leaves out; a key of ``live`` missing from ``saved`` is not.
    """
    missing = sorted(set(live) - set(saved))
    if missing:
        raise LearningError(f"{where}: the checkpoint has no weights for {missing}; RLlib "
                            "would keep their random initial values")
    differ = [k for k in sorted(live)
              if not np.array_equal(_numpy(live[k]), _numpy(saved[k]))]
    if differ:
        raise LearningError(f"{where}: weights {differ} differ from the checkpoint after "
                            "loading it")


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return np.asarray(x.detach().cpu().numpy())
    return np.asarray(x)


class RLPolicy:
    """A greedy policy over one RLlib RLModule (on the CPU).

    Args:
        module: a torch ``RLModule`` (single-agent).
        policy_id: its id in the algorithm (``default_policy`` for single-agent runs).
    """

    def __init__(self, module: Any, policy_id: str) -> None:
        self.module = module
        self.policy_id = policy_id
        self.observation_space = module.observation_space
        self.action_space = module.action_space

    @classmethod
    def from_checkpoint(cls, path: str | Path, policy_id: str | None = None) -> RLPolicy:
        """Load one policy's RLModule from a checkpoint, checking every weight arrived.

        ``policy_id`` may be left out when the checkpoint holds a single policy.
        """
        from ray.rllib.core.rl_module.rl_module import RLModule

        dirs = module_dirs(path)
        if policy_id is None:
            if len(dirs) != 1:
                raise LearningError(f"checkpoint {str(path)!r} holds policies {sorted(dirs)}; "
                                    "say which with policy_id")
            policy_id = next(iter(dirs))
        if policy_id not in dirs:
            raise LearningError(f"checkpoint {str(path)!r} has no policy {policy_id!r} "
                                f"(it has {sorted(dirs)})")
        module: Any = RLModule.from_checkpoint(dirs[policy_id])
        check_weights(module.state_dict(), saved_module_state(dirs[policy_id]),
                      f"policy {policy_id!r} of {str(path)!r}")
        module.eval()
        return cls(module, policy_id)

    def act_batch(self, observations: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Greedy actions for a batch of observations (argmax for discrete actions)."""
        import torch
        from ray.rllib.core.columns import Columns

        obs = torch.as_tensor(np.asarray(observations, dtype=np.float32))
        out = self.module.forward_inference({Columns.OBS: obs})
        if Columns.ACTIONS in out:  # DQN's inference pass already takes the argmax
            actions = out[Columns.ACTIONS]
        else:
            dist_cls = self.module.get_inference_action_dist_cls()
            dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
            actions = dist.to_deterministic().sample()
        return np.asarray(actions.detach().cpu().numpy())

    def act(self, observation: Any) -> Any:
        """The greedy action for one observation (an ``int`` for discrete actions)."""
        action = self.act_batch([observation])[0]
        return int(action) if np.ndim(action) == 0 and np.issubdtype(
            np.asarray(action).dtype, np.integer) else action


def _evaluation(returns: list[float], lengths: list[int], wins: int) -> Evaluation:
    return Evaluation(mean_return=float(np.mean(returns)), success_rate=wins / len(returns),
                      mean_length=float(np.mean(lengths)), episodes=len(returns))


def play(env: Any, policy: RLPolicy | Callable[[Any], Any], episodes: int, *, seed: int = 0,
         success_threshold: float | None = None) -> Evaluation:
    """Run ``episodes`` greedy episodes of a single-agent gymnasium env, resetting with
    ``seed``, ``seed + 1``, ...: the same weights give the same figures.

    An episode succeeds when its return reaches ``success_threshold`` or, by
    default, when it terminated with a positive last reward.
    """
    if episodes < 1:
        raise LearningError(f"play needs episodes >= 1, got {episodes}")
    act = policy.act if isinstance(policy, RLPolicy) else policy
    returns, lengths, wins = [], [], 0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, steps, done, terminated, reward = 0.0, 0, False, False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            steps += 1
            done = bool(terminated or truncated)
        returns.append(total)
        lengths.append(steps)
        wins += (total >= success_threshold) if success_threshold is not None \
            else (terminated and float(reward) > 0)
    return _evaluation(returns, lengths, wins)


def play_multi(env: Any, policies: Mapping[str, RLPolicy], mapping: Callable[[str], str],
               episodes: int, *, seed: int = 0, success_threshold: float | None = None,
               ) -> Evaluation:
    """Greedy episodes of a multi-agent env (RLlib's dict API); ``mapping`` names each
    agent's policy.  The return of an episode is the sum over agents (as RLlib reports it);
    without ``success_threshold`` an episode succeeds when the env ends it (``__all__``
    terminated) with a positive team reward."""
    if episodes < 1:
        raise LearningError(f"play_multi needs episodes >= 1, got {episodes}")
    returns, lengths, wins = [], [], 0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, steps, done, terminated, team = 0.0, 0, False, False, 0.0
        while not done:
            actions: dict[str, Any] = {}
            by_policy: dict[str, list[str]] = {}
            for agent in obs:
                by_policy.setdefault(mapping(agent), []).append(agent)
            for pid, agents in by_policy.items():
                chosen = policies[pid].act_batch([obs[a] for a in agents])
                actions.update({a: chosen[j].item() for j, a in enumerate(agents)})
            obs, rewards, terminateds, truncateds, _ = env.step(actions)
            team = float(sum(rewards.values()))
            total += team
            steps += 1
            terminated = bool(terminateds["__all__"])
            done = terminated or bool(truncateds["__all__"])
        returns.append(total)
        lengths.append(steps)
        wins += (total >= success_threshold) if success_threshold is not None \
            else (terminated and team > 0)
    return _evaluation(returns, lengths, wins)
