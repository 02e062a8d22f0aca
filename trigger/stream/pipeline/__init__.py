"""The L1 trigger pipeline: as data (:mod:`.config`: stages, paths, presets, firmware reports), its
static timing check (:mod:`.check`) and its cycle-level simulation (:mod:`.simulate`). The file
format and the timing model are described in :mod:`.config`."""
from .check import CheckReport, PathCheck, StageCheck, check
from .config import (MAX_BUFFER, PIPELINES, PRESETS, ROLES, Pipeline, Stage, load_pipeline,
                     parse_pipeline, with_firmware)
from .simulate import PathStats, SimResult, SimState, StageStats, simulate, stream_report

__all__ = ["CheckReport", "PathCheck", "StageCheck", "check", "MAX_BUFFER", "PIPELINES",
           "PRESETS", "ROLES", "Pipeline", "Stage", "load_pipeline", "parse_pipeline",
           "with_firmware", "PathStats", "SimResult", "SimState", "StageStats", "simulate",
           "stream_report"]
