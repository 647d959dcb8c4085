"""The checks of GRUForecaster's training-method options: one-line UserErrors for values no
run could use, before any model is built."""

from __future__ import annotations

from gru_learn.errors import UserError

LR_SCHEDULES = ("constant", "cosine", "exponential")


def check_regularisers(rollout, forcing, noise, slowness, after, mar_fraction,
                        mar_weight) -> None:
    """UserErrors for regulariser options no run could use."""
    for name, value in (("state_noise", noise), ("slowness", slowness),
                        ("mar_weight", mar_weight)):
        if not (value >= 0 and value < float("inf")):
            raise UserError(f"{name} must be a finite number >= 0, got {value}")
    if after < 0:
        raise UserError(f"slowness_after must be >= 0, got {after}")
    if not 0 < mar_fraction <= 1:
        raise UserError(f"mar_fraction must be in (0, 1], got {mar_fraction}")
    if (noise > 0 or slowness > 0 or mar_weight > 0) and (forcing != "none"
                                                          or rollout != "discrete"):
        raise UserError("state_noise, slowness and mar_weight act on the free-running "
                        "discrete rollout: use them with forcing: none and rollout: discrete")


def check_method(lr_schedule, rollout, forcing, interval, alpha, alpha_schedule, alpha_final,
                  alpha_decay, state, curriculum_start, curriculum_epochs,
                  readout_init) -> None:
    """UserErrors for training-method options no run could use."""
    if lr_schedule not in LR_SCHEDULES:
        raise UserError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    if forcing not in ("none", "sparse", "generalized"):
        raise UserError(f"forcing must be none, sparse or generalized, got {forcing!r}")
    if forcing != "none" and rollout != "discrete":
        raise UserError("teacher forcing needs rollout: discrete")
    if interval < 1:
        raise UserError(f"forcing_interval must be at least 1, got {interval}")
    if not (0.0 <= alpha <= 1.0 and 0.0 <= alpha_final <= 1.0 and 0.0 <= alpha_decay <= 1.0):
        raise UserError("forcing_alpha, forcing_alpha_final and forcing_alpha_decay must be "
                        "in [0, 1]")
    if alpha_schedule not in ("constant", "linear", "adaptive"):
        raise UserError(f"forcing_alpha_schedule must be constant, linear or adaptive, got "
                        f"{alpha_schedule!r}")
    if state not in ("projection", "pinv"):
        raise UserError(f"forcing_state must be projection or pinv, got {state!r}")
    if curriculum_start is not None and curriculum_start < 1:
        raise UserError(f"curriculum_start must be at least 1, got {curriculum_start}")
    if readout_init not in ("default", "data"):
        raise UserError(f"readout_init must be default or data, got {readout_init!r}")
    if curriculum_epochs < 1:
        raise UserError(f"curriculum_epochs must be at least 1, got {curriculum_epochs}")
