"""Fetch the JavaScript the built book serves itself (MathJax 3, require.js, ipywidgets embed manager).

Pinned versions and their npm integrity hashes live in ``vendor-js.lock``; each
tarball is fetched with ``npm pack`` (no dependency tree, no install scripts),
checked against its hash, and only the files the site needs are extracted into
``_vendor/`` (about 6 MB).  Re-running is a no-op when ``_vendor/`` is current.
"""
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "vendor-js.lock"
VENDOR = ROOT / "_vendor"

# (package, path inside the tarball, destination under _vendor/)
WANTED = {
    "mathjax": [("package/es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"),
                ("package/es5/output/chtml/fonts/woff-v2", "mathjax/output/chtml/fonts/woff-v2"),
                ("package/es5/input/tex/extensions", "mathjax/input/tex/extensions")],
    "requirejs": [("package/require.js", "require.js")],
    "@jupyter-widgets/html-manager": [("package/dist/embed-amd.js", "widgets/embed-amd.js"),
                                      ("package/dist/*.woff2", "widgets/"), ("package/dist/*.woff", "widgets/"),
                                      ("package/dist/*.ttf", "widgets/"), ("package/dist/*.eot", "widgets/"),
                                      ("package/dist/*.svg", "widgets/")],
}


def _sha512(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def main() -> int:
    lock = json.loads(LOCK.read_text())
    stamp = VENDOR / ".lock.json"
    if stamp.exists() and json.loads(stamp.read_text()) == lock:
        print(f"_vendor/ is up to date ({', '.join(k + '@' + v['version'] for k, v in lock.items())})")
        return 0
    shutil.rmtree(VENDOR, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        specs = [f"{name}@{entry['version']}" for name, entry in lock.items()]
        packed = json.loads(subprocess.run(["npm", "pack", *specs, "--json", "--pack-destination", tmp],
                                           check=True, capture_output=True, text=True).stdout)
        for info in packed:
            entry = lock[info["name"]]
            tarball = Path(tmp) / info["filename"]
            if _sha512(tarball) != entry["integrity"]:
                raise SystemExit(f"integrity mismatch for {info['name']}@{info['version']}: refusing to vendor it")
            unpacked = Path(tmp) / info["name"].replace("/", "_")
            with tarfile.open(tarball) as archive:
                archive.extractall(unpacked, filter="data")
            for source, dest in WANTED[info["name"]]:
                matches = sorted(unpacked.glob(source))
                if not matches:
                    raise SystemExit(f"{source} not found in {info['filename']}")
                for match in matches:
                    target = VENDOR / dest / match.name if dest.endswith("/") else VENDOR / dest
                    target.parent.mkdir(parents=True, exist_ok=True)
                    (shutil.copytree if match.is_dir() else shutil.copyfile)(match, target)
    stamp.write_text(json.dumps(lock))
    size = sum(p.stat().st_size for p in VENDOR.rglob("*") if p.is_file())
    print(f"vendored {', '.join(specs)} into _vendor/ ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
