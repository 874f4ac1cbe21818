"""Typed configuration of an RLlib training run, validated once at the edge.

:class:`RLConfig` says what to train (``algorithm``, ``env``, ``multi_agent``),
how (``hyperparameters`` passed to RLlib's ``AlgorithmConfig.training(...)``,
``model`` to its ``DefaultModelConfig``), on what (``num_env_runners``,
``num_learners``, ``num_gpus``) and until when (``stop``).  Build one from a
dict (a ``config.yaml`` section) with :meth:`RLConfig.from_dict`, which raises
:class:`~messaging.errors.ConfigError` naming each bad field, or in Python.

Nothing here imports Ray, RLlib or torch: the keys RLlib accepts are listed in
this module (a test pins them to RLlib's own signatures), so a typo fails here,
at once, and not minutes later inside RLlib.

Example:
    >>> cfg = RLConfig.from_dict({"algorithm": "PPO", "env": "CartPole-v1",
    ...                           "hyperparameters": {"lr": 0.001},
    ...                           "stop": {"mean_return": 450, "env_steps": 300000}})
    >>> cfg.stop.mean_return, cfg.num_gpus, cfg.multi_agent
    (450.0, 'auto', None)
    >>> RLConfig.from_dict({"algorithm": "DQN", "hyperparameters": {"gama": 0.9}})
    Traceback (most recent call last):
    ...
    messaging.errors.ConfigError: invalid configuration in rl config:
      hyperparameters.gama: DQN has no training setting 'gama'; did you mean 'gamma'? \
(see RLlib's DQNConfig.training)
    >>> learner_gpus("auto", cluster_gpus=2.0, cuda_available=False)
    0.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from messaging.errors import ConfigError, did_you_mean

__all__ = [
    "ALGORITHMS",
    "MODEL_KEYS",
    "MULTI_AGENT_ENV",
    "TRAINING_KEYS",
    "RLConfig",
    "StopCriteria",
    "learner_gpus",
]

#: the name of the project's multi-agent task market (``learning.envs``) for RLlib
MULTI_AGENT_ENV = "raymas/TaskMarket"

AlgorithmName = Literal["PPO", "DQN", "APPO"]
ALGORITHMS: tuple[str, ...] = ("PPO", "DQN", "APPO")

_SHARED = ("gamma lr grad_clip grad_clip_by train_batch_size train_batch_size_per_learner "
           "num_epochs minibatch_size shuffle_batch_per_epoch optimizer")
#: the settings of ``<Algorithm>Config.training(...)`` on RLlib's new API stack, without
#: the deprecated ones, the old-stack ones (``model``: use :attr:`RLConfig.model`;
#: ``lr_schedule``, ``entropy_coeff_schedule``: give ``lr``/``entropy_coeff`` a schedule)
#: and the ones that take classes or callables (``learner_class``, ``learner_connector``,
#: ``before_learn_on_batch``...); ``tests/integration/learning/test_rllib.py`` pins this to RLlib.
TRAINING_KEYS: dict[str, frozenset[str]] = {
    "PPO": frozenset((_SHARED + " clip_param entropy_coeff kl_coeff kl_target lambda_ "
                      "use_critic use_gae use_kl_loss vf_clip_param vf_loss_coeff").split()),
    "DQN": frozenset((_SHARED + " adam_epsilon burn_in_len categorical_distribution_temperature "
                      "double_q dueling epsilon hiddens n_step noisy num_atoms "
                      "num_steps_sampled_before_learning_starts replay_buffer_config sigma0 "
                      "store_buffer_in_checkpoints target_network_update_freq tau "
                      "td_error_loss_fn training_intensity v_max v_min").split()),
    "APPO": frozenset((_SHARED + " broadcast_interval circular_buffer_iterations_per_batch "
                       "circular_buffer_num_batches clip_param decay entropy_coeff epsilon "
                       "kl_coeff kl_target lambda_ learner_queue_size learner_queue_timeout "
                       "minibatch_buffer_size momentum num_gpu_loader_threads "
                       "num_multi_gpu_tower_stacks opt_type replay_buffer_num_slots "
                       "replay_proportion simple_queue_size target_network_update_freq "
                       "target_worker_clipping tau timeout_s_aggregator_manager "
                       "timeout_s_sampler_manager use_circular_buffer use_gae use_kl_loss "
                       "vf_loss_coeff vtrace vtrace_clip_pg_rho_threshold "
                       "vtrace_clip_rho_threshold").split()),
}
#: the fields of RLlib's ``DefaultModelConfig`` (the default networks' shape)
MODEL_KEYS: frozenset[str] = frozenset("""
    fcnet_hiddens fcnet_activation fcnet_use_layernorm fcnet_kernel_initializer
    fcnet_kernel_initializer_kwargs fcnet_bias_initializer fcnet_bias_initializer_kwargs
    head_fcnet_hiddens head_fcnet_activation head_fcnet_use_layernorm
    head_fcnet_kernel_initializer head_fcnet_kernel_initializer_kwargs
    head_fcnet_bias_initializer head_fcnet_bias_initializer_kwargs
    conv_filters conv_activation conv_kernel_initializer conv_kernel_initializer_kwargs
    conv_bias_initializer conv_bias_initializer_kwargs
    free_log_std log_std_clip_param vf_share_layers
    use_lstm max_seq_len lstm_cell_size lstm_use_prev_action lstm_use_prev_reward
    lstm_kernel_initializer lstm_kernel_initializer_kwargs lstm_bias_initializer
    lstm_bias_initializer_kwargs
    fusionnet_hiddens fusionnet_activation fusionnet_kernel_initializer
    fusionnet_kernel_initializer_kwargs fusionnet_bias_initializer
    fusionnet_bias_initializer_kwargs""".split())


def learner_gpus(requested: float | Literal["auto"], *, cluster_gpus: float,
                 cuda_available: bool) -> float:
    """GPUs per learner: ``auto`` is 1 only where a GPU is both in the cluster and usable here.

    Ray can advertise GPUs that torch cannot use (a node started with a
    ``num_gpus`` it does not have, as the test cluster does), so ``auto`` asks
    for both; an explicit number is passed on unchanged.

    Example:
        >>> learner_gpus("auto", cluster_gpus=1.0, cuda_available=True)
        1.0
        >>> learner_gpus("auto", cluster_gpus=0.0, cuda_available=True)
        0.0
        >>> learner_gpus(0.5, cluster_gpus=0.0, cuda_available=False)
        0.5
    """
    if requested == "auto":
        return 1.0 if cluster_gpus > 0 and cuda_available else 0.0
    return float(requested)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StopCriteria(_Model):
    """Training stops at the first criterion met (each counted within one ``train()`` call)."""

    mean_return: float | None = Field(
        default=None, description="training-episode return to reach (episode_return_mean)")
    iterations: int | None = Field(default=None, ge=1, description="training iterations")
    env_steps: int | None = Field(default=None, ge=1, description="environment steps sampled")
    seconds: float | None = Field(default=None, gt=0, description="wall-clock seconds")

    @model_validator(mode="after")
    def _bounded(self) -> StopCriteria:
        if self.iterations is None and self.env_steps is None and self.seconds is None:
            raise ValueError("set at least one of iterations, env_steps or seconds, so that "
                             "training ends even if mean_return is never reached")
        return self


class RLConfig(_Model):
    """One RLlib training run; every field has a default except what the run is about.

    ``multi_agent`` is ``"shared"`` (one policy, id ``shared``, for every agent) or
    ``"per_agent"`` (one policy per agent, named like the agent) for
    ``env: raymas/TaskMarket``, and must stay unset for single-agent gymnasium ids.
    """

    algorithm: AlgorithmName = Field(default="PPO", description="PPO, DQN or APPO")
    env: str = Field(default="CartPole-v1", min_length=1,
                     description=f"a gymnasium id, or {MULTI_AGENT_ENV!r}")
    env_config: dict[str, Any] = Field(default_factory=dict,
                                       description="keyword arguments of the environment")
    multi_agent: Literal["shared", "per_agent"] | None = None
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="passed to <Algorithm>Config.training(...)")
    model: dict[str, Any] = Field(default_factory=dict,
                                  description="RLlib DefaultModelConfig fields")
    stop: StopCriteria = Field(
        default_factory=lambda: StopCriteria.model_validate({"iterations": 10}))
    num_env_runners: int = Field(default=0, ge=0,
                                 description="0: sample in the trainer's process")
    num_envs_per_env_runner: int = Field(default=1, ge=1)
    rollout_fragment_length: int | Literal["auto"] = "auto"
    min_seconds_per_iteration: float | None = Field(
        default=None, ge=0, description="an iteration lasts at least this long (None: RLlib's "
        "default for the algorithm, 10 s for APPO)")
    min_env_steps_per_iteration: int | None = Field(
        default=None, ge=0, description="an iteration samples at least this many steps (None: "
        "RLlib's default, 1000 for DQN)")
    num_learners: int = Field(default=0, ge=0, description="0: learn in the trainer's process")
    num_gpus: float | Literal["auto"] = Field(
        default="auto", description="GPUs per learner; auto: 1 if the cluster has a GPU and "
        "torch can use CUDA here")
    seed: int = 0
    checkpoint_dir: str | None = Field(default=None,
                                       description="where save() writes by default")
    evaluation_episodes: int = Field(default=10, ge=1,
                                     description="greedy episodes of evaluate()")

    @field_validator("num_gpus", mode="before")
    @classmethod
    def _gpus(cls, value: Any) -> Any:
        return _auto_or_number(value, 0.0, ">= 0")

    @field_validator("rollout_fragment_length", mode="before")
    @classmethod
    def _fragment(cls, value: Any) -> Any:
        return _auto_or_number(value, 1, ">= 1")

    @model_validator(mode="after")
    def _consistent(self) -> RLConfig:
        problems = []
        known = TRAINING_KEYS[self.algorithm]
        for key in sorted(set(self.hyperparameters) - known):
            problems.append(f"hyperparameters.{key}: {self.algorithm} has no training "
                            f"setting {key!r}{did_you_mean(key, sorted(known))} "
                            f"(see RLlib's {self.algorithm}Config.training)")
        for key in sorted(set(self.model) - MODEL_KEYS):
            problems.append(f"model.{key}: not a DefaultModelConfig field"
                            f"{did_you_mean(key, sorted(MODEL_KEYS))}")
        if self.env == MULTI_AGENT_ENV:
            problems.extend(_market_problems(self.env_config))
        else:
            if self.multi_agent is not None:
                problems.append(f"multi_agent: {self.env!r} is a single-agent environment; "
                                f"multi_agent applies to {MULTI_AGENT_ENV!r} only")
            problems.extend(_gym_id_problems(self.env))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @property
    def is_multi_agent(self) -> bool:
        """Whether the environment is the multi-agent task market."""
        return self.env == MULTI_AGENT_ENV

    @property
    def policy_mode(self) -> Literal["shared", "per_agent"]:
        """How agents map to policies (``shared`` unless said otherwise)."""
        return self.multi_agent or "shared"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "rl config") -> RLConfig:
        """Validate a mapping; :class:`~messaging.errors.ConfigError` lists every bad field."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigError(source, _problems(exc)) from None


def _auto_or_number(value: Any, least: float, bound: str) -> Any:
    """``"auto"`` or a number at least ``least``: one clear message for the union."""
    if value == "auto":
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= least:
        return value
    raise ValueError(f"must be a number {bound} or 'auto'")


def _market_problems(env_config: Mapping[str, Any]) -> list[str]:
    import inspect

    from learning.envs import TaskMarketMultiAgentEnv

    known = sorted(inspect.signature(TaskMarketMultiAgentEnv).parameters)
    return [f"env_config.{key}: not a setting of {MULTI_AGENT_ENV}"
            f"{did_you_mean(key, known)} (known: {', '.join(known)})"
            for key in sorted(set(env_config) - set(known))]


def _gym_id_problems(env: str) -> list[str]:
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium comes with the learning extra
        return ["env: gymnasium is missing: pip install 'raymas[learning]'"]
    import learning.envs  # noqa: F401  (registers raymas/TaskMarket-v0)

    if env in gymnasium.registry:
        return []
    known = sorted(gymnasium.registry)
    return [f"env: {env!r} is neither a gymnasium id nor {MULTI_AGENT_ENV!r}"
            f"{did_you_mean(env, [*known, MULTI_AGENT_ENV])}"]


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not loc:  # RLConfig's cross-field checks: one "path: message" per line
            for line in msg.split("\n"):
                path, sep, text = line.partition(": ")
                problems.append((path, text) if sep else ("(top level)", line))
            continue
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        problems.append((loc, f"{msg}{shown}"))
    return problems
