"""Conformance cases: the releases of actions/runner (latest, by tag, an asset)."""

from __future__ import annotations

from gridctl.sandbox.api.releases import LATEST, RELEASES

from ..conformance import Case

BASE = "/repos/actions/runner/releases"
_OLDER = RELEASES[1][0]
#: the first asset of the latest release (osx-x64; see gridctl.sandbox.api.releases)
_ASSET = 190_000_000 * 10

CASES = [
    Case("repos/get-latest-release", 200, "GET", BASE + "/latest"),
    Case("repos/get-latest-release", 200, "GET", "/repos/Actions/Runner/releases/latest", login=None, note="anonymous"),
    Case("repos/get-latest-release", 404, "GET", "/repos/alice/pub/releases/latest", note="no-release"),
    Case("repos/get-latest-release", 404, "GET", "/repos/alice/nope/releases/latest", note="no-repo"),
    Case("repos/get-release-by-tag", 200, "GET", f"{BASE}/tags/v{_OLDER}"),
    Case("repos/get-release-by-tag", 200, "GET", f"{BASE}/tags/v{LATEST}", login=None, note="anonymous"),
    Case("repos/get-release-by-tag", 404, "GET", f"{BASE}/tags/v0.0.1", note="unknown-tag"),
    Case("repos/get-release-by-tag", 404, "GET", f"/repos/alice/priv/releases/tags/v{LATEST}", login="carol", note="hidden"),
    Case("repos/get-release-asset", 200, "GET", f"{BASE}/assets/{_ASSET}"),
    Case("repos/get-release-asset", 404, "GET", f"{BASE}/assets/1", note="unknown-asset"),
]
