"""What the study is, as a resource: read by the study report (its header and settings)."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field


class StudyInfo(ConfigurableResource):
    """The study's name, description and file, and the modalities and models its graph holds."""

    name: str = Field(default="demo", description="the study's name (its file's `name`)")
    description: str = Field(default="", description="what the study is")
    file: str = Field(default="", description="the study file; empty for the built-in demo study")
    modalities: list[str] = Field(default_factory=list, description="feature blocks it has")
    models: list[str] = Field(default_factory=list, description="models its graph holds")
