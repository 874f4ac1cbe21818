"""REINFORCE learns CartPole for real, with fixed seeds; its baseline, transfer and I/O work."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from learning import LearningError, TrainingHistory, transfer_weights
from learning.pg.reinforce import Reinforce, advantages, discounted_returns


def cartpole(pole_half_length: float = 0.5) -> gym.Env:
    env = gym.make("CartPole-v1")
    physics = env.unwrapped
    physics.length = pole_half_length  # type: ignore[attr-defined]
    physics.polemass_length = physics.masspole * pole_half_length  # type: ignore[attr-defined]
    return env


@pytest.fixture(scope="module")
def solved() -> tuple[Reinforce, TrainingHistory, float]:
    """A value-baseline learner trained until 20 greedy episodes average >= 450."""
    agent = Reinforce(4, 2, hidden=(64,), lr=0.01, baseline="value", seed=0, device="cpu")
    t0 = time.perf_counter()
    history = agent.train(cartpole(), 1000, seed=0, batch_episodes=8, eval_env=cartpole(),
                          eval_every=40, eval_episodes=20, target=450)
    return agent, history, time.perf_counter() - t0


def test_value_baseline_solves_cartpole(solved: tuple[Reinforce, TrainingHistory, float],
                                        ) -> None:
    agent, history, seconds = solved
    result = agent.evaluate(cartpole(), 100, seed=2024)  # fresh seeds, greedy, 100 episodes
    print(f"CartPole: {len(history.returns)} episodes, {sum(history.lengths)} steps, "
          f"{seconds:.1f} s; greedy mean return {result.mean_return:.1f}")
    assert result.episodes == 100 and result.mean_return >= 195
    # stopped at the first evaluation that reached the target, well within the budget
    assert history.evaluations[0][0] == 0 and history.evaluations[-1][1].mean_return >= 450
    assert history.first_reaching(450) == len(history.returns) == agent.episodes < 1000
    assert agent.updates == len(history.returns) // 8


def test_same_seed_same_learner_and_torch_global_state_is_left_alone() -> None:
    def run(seed: int) -> tuple[Reinforce, TrainingHistory]:
        agent = Reinforce(4, 2, hidden=(16,), seed=seed, device="cpu")
        return agent, agent.train(cartpole(), 24, seed=seed, batch_episodes=4)

    before, threads = torch.get_rng_state(), torch.get_num_threads()
    (a, ha), (b, hb), (c, _) = run(3), run(3), run(4)
    assert torch.equal(before, torch.get_rng_state()) and torch.get_num_threads() == threads
    assert ha.returns == hb.returns and a.updates == 6
    for name, value in a.state_dict().items():
        assert np.array_equal(value, b.state_dict()[name]), name
    assert not np.array_equal(a.state_dict()["policy.0.weight"],
                              c.state_dict()["policy.0.weight"])


def test_value_baseline_lowers_the_variance_of_the_gradient() -> None:
    agent = Reinforce(4, 2, hidden=(32,), baseline="value", seed=0, device="cpu")
    env = cartpole()
    agent.train(env, 40, seed=0, batch_episodes=4)  # a value network fitted to some returns
    batches = [agent.collect(env, 4, seed=1000 + i) for i in range(30)]
    variance = {}
    for baseline in ("value", None):
        grads = np.stack([agent.policy_gradient(batch, baseline) for batch in batches])
        variance[baseline] = grads.var(axis=0).sum()
    assert variance["value"] < 0.6 * variance[None], variance


def test_transferred_policy_gives_a_jump_start_on_a_longer_pole(
        solved: tuple[Reinforce, TrainingHistory, float]) -> None:
    source = solved[0]
    first = {}
    for arm in ("scratch", "transfer"):
        agent = Reinforce(4, 2, hidden=(64,), seed=1, device="cpu")
        if arm == "transfer":
            agent.load_state_dict(transfer_weights(source.state_dict(), agent.state_dict()))
        history = agent.train(cartpole(1.0), 16, seed=1, eval_env=cartpole(1.0), eval_every=16,
                              eval_episodes=20, eval_seed=77)
        first[arm] = history.evaluations[0][1].mean_return
    assert first["transfer"] - first["scratch"] > 150, first
    # a plain-REINFORCE learner takes just the policy; other layer sizes are refused
    plain = Reinforce(4, 2, baseline=None, seed=2, device="cpu")
    plain.load_state_dict(transfer_weights(source.state_dict(), plain.state_dict()))
    assert plain.evaluate(cartpole(), 5, seed=0).mean_return > 150
    with pytest.raises(LearningError, match="shape"):
        transfer_weights(source.state_dict(), Reinforce(4, 2, hidden=(32,)).state_dict())
    with pytest.raises(LearningError, match="missing weights"):
        Reinforce(4, 2, device="cpu").load_state_dict(plain.state_dict())


def test_save_and_load_give_the_same_actions(
        solved: tuple[Reinforce, TrainingHistory, float], tmp_path: Path) -> None:
    agent = solved[0]
    path = tmp_path / "policy.bin"
    agent.save(path)
    loaded = Reinforce.load(path, device="cpu")
    assert path.exists() and loaded.config() == agent.config()
    assert (loaded.episodes, loaded.updates) == (agent.episodes, agent.updates)
    observations = np.random.default_rng(0).normal(0, 0.5, (300, 4)).astype(np.float32)
    assert [agent.act(o, greedy=True) for o in observations] == \
        [loaded.act(o, greedy=True) for o in observations]
    agent.rng, loaded.rng = np.random.default_rng(9), np.random.default_rng(9)
    assert [agent.act(o) for o in observations] == [loaded.act(o) for o in observations]
    assert loaded.evaluate(cartpole(), 3, seed=5) == agent.evaluate(cartpole(), 3, seed=5)
    (tmp_path / "junk").write_bytes(b"not an archive")
    with pytest.raises(LearningError, match="not a saved Reinforce"):
        Reinforce.load(tmp_path / "junk")


def test_actions_follow_the_probabilities() -> None:
    agent = Reinforce(2, 3, hidden=(4,), baseline=None, seed=0, device="cpu")
    weights = agent.state_dict()
    weights["policy.2.weight"][:] = 0.0
    weights["policy.2.bias"][:] = np.log([1.0, 2.0, 5.0])  # probabilities 1/8, 2/8, 5/8
    agent.load_state_dict(weights)
    obs = np.zeros(2)
    assert np.allclose(agent.probabilities(obs), [0.125, 0.25, 0.625])
    counts = np.bincount([agent.act(obs) for _ in range(8000)], minlength=3) / 8000
    assert np.allclose(counts, [0.125, 0.25, 0.625], atol=0.02), counts
    assert agent.act(obs, greedy=True) == 2
    with pytest.raises(LearningError, match="3 values"):
        agent.act(np.zeros(3))


def test_returns_and_advantages_by_hand() -> None:
    assert discounted_returns([0.0, 0.0, 1.0], 0.9).tolist() == pytest.approx([0.81, 0.9, 1.0])
    returns = np.array([3.0, 1.0, 2.0])
    assert advantages(returns, "value", np.array([2.0, 2.0, 2.0]), normalize=False).tolist() \
        == [1.0, -1.0, 0.0]
    assert advantages(returns, "mean", normalize=False).tolist() == [1.0, -1.0, 0.0]
    scaled = advantages(returns, None)  # rescaled to unit std, not centred: all stay positive
    assert scaled.std() == pytest.approx(1.0) and (scaled > 0).all()
    with pytest.raises(LearningError, match="value estimates"):
        advantages(returns, "value")


def test_unusable_spaces_and_hyperparameters_are_refused_with_their_values() -> None:
    with pytest.raises(LearningError, match=r"Box observation.*got Discrete\(16\)"):
        Reinforce.for_env(gym.make("FrozenLake-v1"))
    with pytest.raises(LearningError, match=r"Discrete action.*Box\(-2.0, 2.0"):
        Reinforce.for_env(gym.make("Pendulum-v1"))
    with pytest.raises(LearningError, match="built for 3 and 2"):
        Reinforce(3, 2, device="cpu").train(cartpole(), 1)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lr": 0.0}, "lr must be > 0, got 0.0"), ({"lr": -1e-3}, "got -0.001"),
        ({"lr": float("nan")}, "got nan"), ({"value_lr": 0}, "value_lr must be > 0, got 0"),
        ({"gamma": 0.0}, r"gamma must be in \(0, 1\], got 0.0"), ({"gamma": 1.5}, "got 1.5"),
        ({"baseline": "median"}, "got 'median'"), ({"hidden": (0,)}, r"got \[0\]"),
        ({"device": "gpu9"}, "'gpu9'"), ({"torch_threads": 0}, "torch_threads .* got 0")]
    for kwargs, message in cases:
        with pytest.raises(LearningError, match=message):
            Reinforce(4, 2, **kwargs)
    with pytest.raises(LearningError, match="target=195 needs eval_every"):
        Reinforce(4, 2, device="cpu").train(cartpole(), 8, target=195)
    with pytest.raises(LearningError, match="Discrete action"):
        Reinforce(4, 2, device="cpu").evaluate(gym.make("MountainCarContinuous-v0"), 1)


def test_task_kind_trains_through_the_registry() -> None:
    from agents.agent.kinds import resolve_task

    run = resolve_task("policy_gradient")
    out = run(env="CartPole-v1", episodes=48, target=60, eval_episodes=20, seed=0,
              hidden=[32], lr=0.02, baseline="mean")
    assert set(out) == {"env", "baseline", "episodes", "mean_return", "mean_length",
                        "eval_episodes", "train_seconds", "reached"}
    assert out["episodes"] <= 48 and out["eval_episodes"] == 20
    assert out["mean_return"] > 0 and out["train_seconds"] > 0
    assert isinstance(out["reached"], bool)
    with pytest.raises(LearningError, match="Box observation"):
        run(env="FrozenLake-v1", episodes=1)
    with pytest.raises(LearningError, match="'median'"):
        run(baseline="median", episodes=1)


def test_the_task_kind_is_known_without_importing_torch() -> None:
    code = ("import sys, learning, agents.agent.kinds as r\n"
            "assert 'policy_gradient' in r.known_tasks()\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
