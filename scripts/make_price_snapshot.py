#!/usr/bin/env python3
"""Rebuild chatroute's bundled price snapshot (and tiktoken encodings) from a litellm wheel.

    pip download --no-deps litellm -d /tmp/litellm
    python scripts/make_price_snapshot.py /tmp/litellm/litellm-*.whl [--as-of YYYY-MM-DD]

Writes chatroute/catalog/data/{prices.json.gz, prices.meta.json} and, unless --no-tiktoken,
{o200k_base,cl100k_base}.tiktoken + tiktoken.meta.json after checking each file's sha256
against the hash tiktoken itself expects (tiktoken_ext/openai_public.py).

as_of: the wheel's members are dated 1980 (reproducible builds), so the date comes from
PyPI's upload time for the wheel, looked up in the PEP 691 JSON simple index by the wheel's
sha256. Pass --as-of to skip the lookup (offline).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chatroute.catalog.prices import count_usable, parse_feed, trim_feed  # noqa: E402
from chatroute.catalog.tokens import ENCODINGS  # noqa: E402

DATA = ROOT / "chatroute" / "catalog" / "data"
PRICES_IN_WHEEL = "litellm/model_prices_and_context_window_backup.json"
TOKENIZERS_IN_WHEEL = "litellm/litellm_core_utils/tokenizers/"
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"


def pypi_upload_time(project: str, filename: str, sha256: str) -> str | None:
    req = urllib.request.Request(
        f"https://pypi.org/simple/{project}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (fixed https URL)
        index = json.load(resp)
    for f in index.get("files", []):
        if f.get("filename") == filename and f.get("hashes", {}).get("sha256") == sha256:
            return f.get("upload-time")
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("wheel", type=Path)
    ap.add_argument("--as-of", help="ISO date of the prices (default: PyPI upload date of the wheel)")
    ap.add_argument("--no-tiktoken", action="store_true", help="only rebuild the price snapshot")
    ap.add_argument("--out", type=Path, default=DATA)
    args = ap.parse_args()

    wheel: Path = args.wheel
    m = re.match(r"litellm-([^-]+)-", wheel.name)
    if not m:
        ap.error(f"{wheel.name} does not look like a litellm wheel")
    version = m.group(1)
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()

    upload_time = None
    if args.as_of:
        as_of, how = args.as_of, "given on the command line (--as-of)"
    else:
        upload_time = pypi_upload_time("litellm", wheel.name, wheel_sha)
        if not upload_time:
            ap.error("could not find the wheel's upload time on PyPI; pass --as-of")
        as_of = upload_time[:10]
        how = (
            "PyPI upload time of this wheel file (PEP 691 JSON simple index, "
            f"files[].upload-time = {upload_time}); the wheel's own member dates are 1980"
        )

    with zipfile.ZipFile(wheel) as zf:
        original = zf.read(PRICES_IN_WHEEL)
        raw = parse_feed(original)
        trimmed = trim_feed(raw)
        body = json.dumps(trimmed, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
        args.out.mkdir(parents=True, exist_ok=True)
        # mtime=0 so the .gz is byte-reproducible from the same wheel.
        gz = gzip.compress(body, compresslevel=9, mtime=0)
        (args.out / "prices.json.gz").write_bytes(gz)
        providers: dict[str, int] = {}
        for e in trimmed.values():
            providers[e["litellm_provider"]] = providers.get(e["litellm_provider"], 0) + 1
        meta = {
            "source": f"PyPI litellm {version} wheel ({wheel.name})",
            "source_path_in_wheel": PRICES_IN_WHEEL,
            "upstream": "https://github.com/BerriAI/litellm model_prices_and_context_window.json",
            "license": "MIT (litellm; see NOTICE.md)",
            "wheel_sha256": wheel_sha,
            "as_of": as_of,
            "as_of_determined_by": how,
            "original_sha256": hashlib.sha256(original).hexdigest(),
            "original_models": len(raw),
            "models_in_source": count_usable(raw),
            "trimmed_sha256": hashlib.sha256(body).hexdigest(),
            "trimmed_gz_sha256": hashlib.sha256(gz).hexdigest(),
            "models": len(trimmed),
            "providers": dict(sorted(providers.items())),
            "trimmed_to": "mode=chat, providers listed above, fields per chatroute.catalog.prices.KEPT_FIELDS "
            "and TIER_FIELD",
            "generator": "scripts/make_price_snapshot.py",
        }
        (args.out / "prices.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"prices: {len(trimmed)} models, {len(gz)} bytes gz, as_of {as_of}")

        if not args.no_tiktoken:
            tk_meta: dict[str, dict[str, str]] = {}
            for name, (_, expected) in ENCODINGS.items():
                url = TIKTOKEN_URL.format(name=name)
                cache_key = hashlib.sha1(url.encode()).hexdigest()  # tiktoken's cache filename
                data = zf.read(TOKENIZERS_IN_WHEEL + cache_key)
                actual = hashlib.sha256(data).hexdigest()
                if actual != expected:
                    print(f"{name}: sha256 {actual} != tiktoken's expected {expected}", file=sys.stderr)
                    return 1
                (args.out / f"{name}.tiktoken").write_bytes(data)
                tk_meta[name] = {
                    "sha256": actual,
                    "official_url": url,
                    "source": f"PyPI litellm {version} wheel: {TOKENIZERS_IN_WHEEL}{cache_key}",
                    "verified_against": "tiktoken_ext/openai_public.py expected_hash",
                }
                print(f"{name}: {len(data)} bytes, sha256 verified")
            (args.out / "tiktoken.meta.json").write_text(json.dumps(tk_meta, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
