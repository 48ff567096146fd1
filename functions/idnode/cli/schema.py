"""Export the GraphQL schema (SDL) from the code: graphql/schema.graphql is its published copy."""

from __future__ import annotations

from pathlib import Path


def schema_sdl() -> str:
    # Imported here so that `idnode --help` does not load strawberry.
    from idnode.api.graphql.schema import build_schema  # noqa: PLC0415

    return str(build_schema()) + "\n"


def export_schema(path: str | Path | None = None) -> None:
    """Write the SDL to `path`, or print it when no path is given."""
    sdl = schema_sdl()
    if path is None:
        print(sdl, end="")
        return
    Path(path).write_text(sdl)
