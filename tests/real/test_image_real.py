"""The image artifacts for real: the OCI archive follows the image-layout spec, and matches rootfs.tar."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
from pathlib import Path


def test_oci_archive_is_a_valid_image_layout(built_image: Path) -> None:
    image = built_image / "images/default"
    manifest = json.loads((image / "manifest.json").read_text())
    assert manifest["oci"] == "oci.tar" and manifest["rootfs_tar"] == "rootfs.tar"
    with tarfile.open(image / "oci.tar") as archive:
        files = {m.name: archive.extractfile(m).read() for m in archive.getmembers()}
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}

    def blob(digest: str) -> bytes:
        data = files["blobs/sha256/" + digest.split(":")[1]]
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        return data

    entry = json.loads(files["index.json"])["manifests"][0]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "mvm/rootfs:" + manifest["id"]
    oci_manifest = json.loads(blob(entry["digest"]))
    config = json.loads(blob(oci_manifest["config"]["digest"]))
    assert config["config"]["Entrypoint"] == ["/init"] and config["architecture"] == "amd64"
    layer = gzip.decompress(blob(oci_manifest["layers"][0]["digest"]))
    assert layer == (image / "rootfs.tar").read_bytes()
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(image / "rootfs.tar") as tree:
        names = tree.getnames()
    assert "./init" in names and "./bin/busybox" in names and "./mvm/etc/acpi/poweroff" in names and "./mvm/bin/busybox" in names
