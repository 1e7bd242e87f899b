"""Profiles (``params/*.yaml``) as typed dataclasses, validated before any compute.

``load_profile("cpu")`` reads ``params/cpu.yaml``; every key must be a field of one of the dataclasses below, of the
right type and in range, or a ``ParamError`` names the key, the bad value and what is allowed. A user copies a
profile to change it; a profile may name another as ``inherit: smoke`` and override some keys. Each field's text
says what the knob does and trades off; README "Profiles" keeps the history of the defaults.

Modules: ``checks`` (``ParamError``), ``world`` (the toy and LLM worlds), ``training`` (model, base, SFT, GRPO,
evaluation), ``experiments`` (each notebook's arms), ``probes`` (notebooks 01 and 04), ``ladder`` (the difficulty
ladder), ``profile`` (``Profile`` and its cross-field rules), ``loading`` (yaml -> ``Profile``).
"""

from .checks import ParamError
from .experiments import (EfficiencyParams, GeneralisationParams, RLCheckParams, SFTThenRLParams, SupportSetParams,
                          TrajectoryLengthParams)
from .ladder import LADDER_CONTRASTS, LadderParams
from .loading import PARAMS_DIR, load_profile, profile_path
from .probes import PseudoGradientParams, ReflectionParams
from .profile import Profile
from .training import BaseParams, EvalParams, GRPOParams, ModelParams, TrainParams
from .world import LEVEL_NAMES, WORLD_KINDS, LLMWorldParams, WorldParams

__all__ = ["PARAMS_DIR", "LADDER_CONTRASTS", "LEVEL_NAMES", "WORLD_KINDS", "ParamError", "load_profile", "profile_path",
           "Profile", "WorldParams", "LLMWorldParams", "ModelParams", "TrainParams", "BaseParams", "EvalParams",
           "GRPOParams", "TrajectoryLengthParams", "SupportSetParams", "PseudoGradientParams", "ReflectionParams",
           "EfficiencyParams", "SFTThenRLParams", "RLCheckParams", "GeneralisationParams", "LadderParams"]
