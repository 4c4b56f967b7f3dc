"""The HTTP client of the commands that work through a running service (``--server URL``)."""

from __future__ import annotations

import io
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import click

from graph import (
    InputError,
)
from graph.ingest.load import RDF_SUFFIXES, SourceInput

__all__ = ["put_source", "MEDIA"]

#: Media types of the RDF files ``load --server`` sends, by suffix.
MEDIA = {".ttl": "text/turtle", ".trig": "application/trig", ".nt": "application/n-triples",
         ".nq": "application/n-quads", ".jsonld": "application/ld+json", ".json": "application/ld+json",
         ".rdf": "application/rdf+xml", ".owl": "application/rdf+xml"}


def put_source(server: str, source: SourceInput, token: str) -> None:
    """Load `source` through the service at `server` (``PUT /sources/{name}``) and say what it did.

    Parameters
    ----------
    server : str
        The service's base URL (``--server``).
    source : SourceInput
        A planned source (:func:`graph.ingest.load.plan`) of exactly one path. A folder is sent as a zip of
        its top-level CSV files, a file as it is, with the media type of its suffix (:data:`MEDIA`); its
        title and licence, if any, go as query parameters.
    token : str
        A bearer token for the service (empty: none is sent).

    Raises
    ------
    InputError
        When `source` has more than one path.
    SystemExit
        With status 1 when the service refuses the load (its problem and issues are printed), 3 when it
        cannot be reached.
    """
    if len(source.paths) != 1:
        raise InputError([], "with --server, give one file or folder per source")
    path = source.paths[0]
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for csv_file in sorted(path.glob("*.csv")):
                archive.write(csv_file, csv_file.name)
        body, media = buffer.getvalue(), "application/zip"
    else:
        suffix = next(s for s in RDF_SUFFIXES if path.name.lower().endswith(s))
        body, media = path.read_bytes(), MEDIA[suffix]
    query = urllib.parse.urlencode({k: v for k, v in (("title", source.title), ("licence", source.licence)) if v})
    url = f"{server.rstrip('/')}/sources/{urllib.parse.quote(source.name)}" + (f"?{query}" if query else "")
    headers = {"Content-Type": media, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=3600) as response:
            report = json.load(response)
    except urllib.error.HTTPError as error:
        try:
            problem = json.load(error)
        except ValueError:
            problem = {"title": error.reason, "detail": ""}
        lines = [f"{problem.get('title')}: {problem.get('detail', '')}"]
        lines += [f"  {i.get('file')}{':' + str(i['line']) if i.get('line') else ''}"
                  f"{': field ' + repr(i['field']) if i.get('field') else ''}: {i.get('message')} [{i.get('rule')}]"
                  for i in problem.get("issues", [])]
        click.echo("error: " + "\n".join(lines), err=True)
        sys.exit(1)
    except (urllib.error.URLError, OSError) as error:
        click.echo(f"error: cannot reach {server}: {getattr(error, 'reason', error)}", err=True)
        sys.exit(3)
    verb = "replaced" if report.get("replaced") else "loaded"
    click.echo(f"{verb} {report['source']} through {server}: {report['triples']} statements")
    click.echo(f"data version {report['data_version']}")
