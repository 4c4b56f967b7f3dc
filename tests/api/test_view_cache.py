"""The one derived-data cache keeps each view apart: whoever asks first, a reader never gets an investigator's
cached answer, manifest or export, nor the reverse."""

from __future__ import annotations

import re
from typing import Any

PATHS = ["/linkage/co-accused?min_shared=1", "/linkage/repeat-subjects?min_investigations=1", "/officers",
         "/linkage/centrality?measure=degree&top=5", "/export/officers.manifest.json?format=graphml",
         "/export/full.manifest.json?format=gexf", "/export/officers.graphml"]


def test_reader_never_gets_the_investigators_cached_answer(secured: Any) -> None:
    app, tokens = secured
    client = app.test_client()
    inv = {"Authorization": f"Bearer {tokens['investigator']}", "Accept": "application/json"}
    rd = {"Authorization": f"Bearer {tokens['reader']}", "Accept": "application/json"}
    for order in ((inv, rd), (rd, inv)):
        app.extensions["oversight"].derived.clear()
        for path in PATHS:
            first = client.get(path, headers=order[0])
            first.get_data()
            first.close()
            second = client.get(path, headers=order[1])
            second.get_data()
            second.close()
            reader = second if order[1] is rd else first
            investigator = first if order[1] is rd else second
            assert reader.status_code == investigator.status_code == 200, path
            assert reader.headers.get("X-Oversight-View") == "pseudonymised", path
            assert reader.data != investigator.data, path
            assert not re.search(rb"/officer/(?!p-)", reader.data), path

