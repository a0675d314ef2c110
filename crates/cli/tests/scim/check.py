"""Runs scim2-tester (PyPI) against a SCIM server and prints one JSON line per
check. scim2-tester 0.5 is a library without a command line of its own; this
is its smallest command line.

    python check.py BASE_URL          (the token in $SCIM_TOKEN)
"""

import json
import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> None:
    url = sys.argv[1]
    token = os.environ["SCIM_TOKEN"]
    http = Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    client = SyncSCIMClient(http)
    for r in check_server(client):
        print(
            json.dumps(
                {
                    "status": r.status.name,
                    "title": r.title,
                    "resource_type": r.resource_type,
                    "reason": r.reason,
                    "tags": sorted(r.tags or []),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
