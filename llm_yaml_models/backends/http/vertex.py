"""Google Cloud's Vertex AI: where a model is served, a project and a
location, as the ``vertex-gemini`` and ``vertex-anthropic`` presets place
them in the URL (``{{ project }}``, ``{{ location }}``, ``{{ vertex_host }}``).

The backend's ``project:`` and ``location:`` come first, then the variables
Google's own tools read (``GOOGLE_CLOUD_PROJECT``, ``GOOGLE_CLOUD_LOCATION``;
Anthropic's Vertex client reads ``CLOUD_ML_REGION``). A location with a typo
is one line naming it and where it came from, before any request is sent."""

from __future__ import annotations

import os
import re

from .outcome import WireError

DEFAULT_LOCATION = "global"
# A region (us-central1, europe-west4, northamerica-northeast1...), Vertex
# AI's multi-regions (us, eu) or the global endpoint. The schema's pattern.
LOCATION = re.compile(
    r"global|us|eu|(us|europe|asia|australia|northamerica|southamerica|me|africa)"
    r"-(north|south|east|west|central|northeast|northwest|southeast|southwest)\d{1,2}"
)
LOCATION_HINT = "is not a Google Cloud location such as us-central1, europe-west4 or global"
# A project id: 6 to 30 lowercase letters, digits and hyphens, from a letter
# (an old domain-scoped one has its domain before a colon).
PROJECT = re.compile(r"([a-z][a-z0-9.-]*:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
PROJECT_HINT = "is not a Google Cloud project id such as my-project-123"
NAMES = ("project", "location", "vertex_host")


def served_at(project: str | None, location: str | None) -> dict[str, str]:
    """What the templates' Vertex names stand for, for a backend that
    declares ``project`` and ``location`` (or leaves them to the environment)."""
    where = _location(location)
    return {"project": _project(project), "location": where, "vertex_host": host(where)}


def host(location: str) -> str:
    """Vertex AI's host for a location: the global endpoint, a multi-region's
    (us, eu), or a region's own."""
    if location == "global":
        return "aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"aiplatform.{location}.rep.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def _location(declared: str | None) -> str:
    found, source = declared, "backend.location"
    for name in ("GOOGLE_CLOUD_LOCATION", "CLOUD_ML_REGION"):
        if not found and os.environ.get(name):
            found, source = os.environ[name], name
    found = found or DEFAULT_LOCATION
    if not LOCATION.fullmatch(found):
        raise WireError(f"Vertex AI location {found!r} ({source}) {LOCATION_HINT}")
    return found


def _project(declared: str | None) -> str:
    found, source = declared, "backend.project"
    if not found and os.environ.get("GOOGLE_CLOUD_PROJECT"):
        found, source = os.environ["GOOGLE_CLOUD_PROJECT"], "GOOGLE_CLOUD_PROJECT"
    if not found:
        raise WireError(
            "no Google Cloud project for Vertex AI: write backend.project, "
            "or set GOOGLE_CLOUD_PROJECT"
        )
    if not PROJECT.fullmatch(found):
        raise WireError(f"Vertex AI project {found!r} ({source}) {PROJECT_HINT}")
    return found
