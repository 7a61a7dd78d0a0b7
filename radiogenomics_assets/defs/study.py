"""A study in one file: its source, cohort, feature settings, models and training protocol.

A study file (YAML; the shipped ones are under ``studies/``) is selected by
``$RADIOGENOMICS_STUDY``; unset, the study is the demo's (``studies/demo.yaml`` holds the same
values). Every process that builds the code location (``make demo``/``refresh``/``ui``, the
daemon, walk and Celery workers) reads the same variable, so they all build the same graph.

Sections, each optional (a missing key keeps its default)::

    name, description        what the study is, shown in the UI
    source                   kind (demo, local, tcia, idc) and that backend's settings
    cohort                   the cohort filter and outcome origin (CohortResource's fields)
    genomics                 RNA-seq cleaning (ExpressionSettings': transform, max_na_fraction...)
    radiomics                PyRadiomics' region margin and bin width (RadiomicsSettings')
    densenet                 DenseNet-121 weights and device (DenseNetSettings')
    modalities               feature blocks the study has: genomics, pyradiomics, densenet
    models                   registry names, or families (coxnet, net), or all
    modeling                 folds, seeds, CoxNet alpha, the nets' grid (ModelingSettings')

A variable of the older interface, where set, overrides the file's value: the source's
(``$RADIOGENOMICS_SOURCE`` and its ``…_DEMO_*`` and ``…_LOCAL_*`` variables) and the modeling
ones (``$RADIOGENOMICS_CV_REPEATS``, ``…_NET_REPEATS``, ``…_ALPHA_SELECTION``). The assets'
metadata and the resources' page in the UI show the values in effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import yaml
from dagster import ConfigurableResource
from pydantic import BaseModel, ConfigDict, ValidationError

from radiogenomics_assets import config
from radiogenomics_assets.defs.resources.cohort import CohortResource
from radiogenomics_assets.defs.resources.features import (
    DenseNetSettings,
    ExpressionSettings,
    RadiomicsSettings,
)
from radiogenomics_assets.defs.resources.modeling import ModelingSettings, modeling_from_environment
from radiogenomics_assets.defs.resources.source import (
    SourceResource,
    source_from_environment,
    source_kind,
)
from radiogenomics_assets.defs.scope import IMAGING
from radiogenomics_assets.survival.registry import MODALITIES, MODEL_REGISTRY, Estimator, Modality

STUDY_ENV = "RADIOGENOMICS_STUDY"
#: Words of ``models`` that stand for several models.
MODEL_FAMILIES: tuple[str, ...] = ("all", *get_args(Estimator))


class StudyError(ValueError):
    """A study file is unreadable or holds a key or value its schema refuses; the message names
    the file, the key and what is allowed."""


class SourceSection(BaseModel):
    """``source``: the backend and its settings; a setting of another backend is refused."""

    model_config = ConfigDict(extra="forbid")

    kind: config.SourceName = "demo"
    # demo
    patients: int | None = None
    seed: int | None = None
    demo_config: dict[str, Any] | None = None
    # local: unset paths come from $RADIOGENOMICS_LOCAL_*; relative ones from the study's folder
    dicom_root: str | None = None
    clinical_csv: str | None = None
    rnaseq_matrix: str | None = None
    # tcia and idc
    clinical_url: str | None = None
    rnaseq_url: str | None = None
    base_url: str | None = None
    s3_endpoint: str | None = None


#: The settings of each backend (``kind`` aside), to refuse those of another one.
_SOURCE_KEYS: Mapping[str, tuple[str, ...]] = {
    "demo": ("patients", "seed", "demo_config"),
    "local": ("dicom_root", "clinical_csv", "rnaseq_matrix"),
    "tcia": ("clinical_url", "rnaseq_url", "base_url"),
    "idc": ("clinical_url", "rnaseq_url", "s3_endpoint"),
}
#: Top-level keys and the resource class that validates each section.
_SECTIONS: Mapping[str, type[ConfigurableResource]] = {
    "cohort": CohortResource,
    "genomics": ExpressionSettings,
    "radiomics": RadiomicsSettings,
    "densenet": DenseNetSettings,
    "modeling": ModelingSettings,
}
TOP_LEVEL_KEYS = ("name", "description", "source", "modalities", "models", *_SECTIONS)


@dataclass(frozen=True)
class Study:
    """A validated study: the code location's resources and which models its graph holds."""

    name: str
    description: str
    path: Path | None
    source: SourceResource
    cohort: CohortResource
    genomics: ExpressionSettings
    radiomics: RadiomicsSettings
    densenet: DenseNetSettings
    modeling: ModelingSettings
    modalities: tuple[Modality, ...]
    #: Registry names, in registry order.
    models: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        """The settings in effect, by section (the UI's and the report's view of the study)."""
        return {
            "name": self.name,
            "file": str(self.path) if self.path else "none (the built-in demo study)",
            "source": source_kind(self.source),
            "modalities": list(self.modalities),
            "models": list(self.models),
            **{key: getattr(self, key).model_dump() for key in _SECTIONS},
        }


def study_from_environment() -> Study:
    """The study ``$RADIOGENOMICS_STUDY`` names, or the demo study when it is unset.

    Raises:
        StudyError: the file is missing, not YAML, or refused by the schema.
    """
    path = os.environ.get(STUDY_ENV, "").strip()
    return load_study(Path(path)) if path else build_study({}, None)


def load_study(path: Path) -> Study:
    """The study of the YAML file at ``path``.

    Raises:
        StudyError: as :func:`study_from_environment`.
    """
    path = Path(path).expanduser().resolve()
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StudyError(f"study file {path} cannot be read ({STUDY_ENV}): {error}") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise StudyError(f"study file {path} is not YAML: {error}") from error
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise StudyError(f"study file {path}: expected a mapping of sections, got {content!r}")
    return build_study(content, path)


def build_study(content: Mapping[str, Any], path: Path | None) -> Study:
    """The study of ``content`` (a parsed study file; ``path`` where it came from).

    Raises:
        StudyError: a key or value the schema refuses.
    """
    where = f"study file {path}" if path else "study"
    unknown = sorted(set(content) - set(TOP_LEVEL_KEYS))
    if unknown:
        allowed = ", ".join(TOP_LEVEL_KEYS)
        raise StudyError(f"{where}: unknown key {unknown[0]!r}; allowed: {allowed}")
    sections = {key: _section(where, key, cls, content.get(key)) for key, cls in _SECTIONS.items()}
    modalities = _modalities(where, content.get("modalities"))
    modeling = modeling_from_environment(sections["modeling"].model_dump())
    return Study(
        name=str(content.get("name") or (path.stem if path else "demo")),
        description=str(content.get("description") or ""),
        path=path,
        source=_source(
            where, content.get("source"), path, imaging=bool(set(IMAGING) & set(modalities))
        ),
        cohort=sections["cohort"],
        genomics=sections["genomics"],
        radiomics=sections["radiomics"],
        densenet=sections["densenet"],
        modeling=modeling,
        modalities=modalities,
        models=_models(where, content.get("models"), modalities),
    )


def _mapping(where: str, key: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StudyError(f"{where}: {key} must be a mapping of settings, got {value!r}")
    return value


def _section(where: str, key: str, cls: type[ConfigurableResource], value: object):
    values = _mapping(where, key, value)
    unknown = sorted(set(values) - set(cls.model_fields))
    if unknown:
        raise StudyError(
            f"{where}: unknown key {key}.{unknown[0]}; allowed: {', '.join(cls.model_fields)}"
        )
    try:
        return cls(**values)
    except ValidationError as error:
        raise StudyError(f"{where}: {_first_problem(key, error)}") from error


def _first_problem(key: str, error: ValidationError) -> str:
    problem = error.errors()[0]
    dotted = ".".join(str(part) for part in (key, *problem["loc"]))
    return f"{dotted}: {problem['msg']} (got {problem.get('input')!r})"


def _modalities(where: str, value: object) -> tuple[Modality, ...]:
    if value is None:
        return MODALITIES
    names = value if isinstance(value, list) else [value]
    wrong = [name for name in names if name not in MODALITIES]
    if wrong or not names:
        raise StudyError(
            f"{where}: modalities: {wrong[0] if wrong else 'empty'!r} is not one of "
            f"{', '.join(MODALITIES)}"
        )
    return tuple(m for m in MODALITIES if m in names)


def _models(where: str, value: object, modalities: tuple[Modality, ...]) -> tuple[str, ...]:
    """The registry's models named by ``value``; a family keeps the members the study's
    modalities allow, a model named outright must be allowed."""
    names = ["all"] if value is None else value if isinstance(value, list) else [value]
    registered = {spec.name: spec for spec in MODEL_REGISTRY}
    chosen: set[str] = set()
    for name in names:
        if name in MODEL_FAMILIES:
            chosen |= {
                spec.name
                for spec in MODEL_REGISTRY
                if name in ("all", spec.estimator) and set(spec.modalities) <= set(modalities)
            }
        elif name in registered:
            lacking = sorted(set(registered[name].modalities) - set(modalities))
            if lacking:
                raise StudyError(
                    f"{where}: models: {name} reads {', '.join(lacking)}, which the study's "
                    f"modalities ({', '.join(modalities)}) leave out"
                )
            chosen.add(name)
        else:
            raise StudyError(
                f"{where}: models: {name!r} is neither a registered model "
                f"({', '.join(registered)}) nor one of {', '.join(MODEL_FAMILIES)}"
            )
    if not chosen:
        raise StudyError(f"{where}: models: no model of {names} reads only {modalities}")
    return tuple(spec.name for spec in MODEL_REGISTRY if spec.name in chosen)


def _source(where: str, value: object, path: Path | None, *, imaging: bool) -> SourceResource:
    """The study's source, unless ``$RADIOGENOMICS_SOURCE`` names another backend."""
    try:
        section = SourceSection(**_mapping(where, "source", value))
    except ValidationError as error:
        raise StudyError(f"{where}: {_first_problem('source', error)}") from error
    if os.environ.get(config.SOURCE_ENV, "").strip() and config.source_name() != section.kind:
        return source_from_environment()
    given = section.model_dump(exclude_unset=True, exclude={"kind"})
    foreign = sorted(set(given) - set(_SOURCE_KEYS[section.kind]))
    if foreign:
        raise StudyError(
            f"{where}: source.{foreign[0]} is not a setting of the {section.kind} source "
            f"(its settings: {', '.join(_SOURCE_KEYS[section.kind])})"
        )
    if "demo_config" in given:
        given["config"] = given.pop("demo_config")
    if section.kind == "local":
        folder = path.parent if path else Path.cwd()
        given = {key: str((folder / Path(p).expanduser()).resolve()) for key, p in given.items()}
    return source_from_environment(section.kind, given, imaging=imaging)
