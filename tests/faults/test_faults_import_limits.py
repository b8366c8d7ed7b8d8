"""Hostile spreadsheets for ``brandex import``: zip bombs and sheets that only claim to be small.

Each file is generated here, small on disk and huge once unpacked (or parsed),
and must be refused within seconds, with an error naming the limit and the
flag that raises it, before the node is contacted (no node runs here: a
refused file never gets that far).
"""

from __future__ import annotations

import struct
import time
import zipfile
from pathlib import Path

import openpyxl
from harness import brandex

MB = 1024 * 1024
QUICK = 15.0  # seconds; each refusal below takes well under one on an idle machine


def _workbook(path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["品牌名称", "企业名称", "统一社会信用代码", "证书编号"])
    wb.save(path)


def _with_sheet(src: Path, dst: Path, write_sheet) -> None:
    """Copy workbook ``src`` to ``dst``, the first worksheet's XML written by ``write_sheet``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with zout.open(info.filename, "w", force_zip64=True) as f:
                    write_sheet(f)
            else:
                zout.writestr(info, zin.read(info.filename))


def _bomb_sheet(megabytes: int):
    def write(f) -> None:
        f.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')
        f.write(b"<sheetData>")
        chunk = b" " * MB
        for _ in range(megabytes):
            f.write(chunk)
        f.write(b"</sheetData></worksheet>")

    return write


def _lie_about_size(path: Path, member: str, declared: int) -> None:
    """Patch ``member``'s uncompressed size in the local header and the zip64 extras / directory."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    # Local file header: signature, then the sizes at offset 18 (compressed) and 22.
    for sig, name_len_at, size_at, extra_len_at, header in (
        (b"PK\x03\x04", 26, 22, 28, 30),
        (b"PK\x01\x02", 28, 24, 30, 46),
    ):
        at = data.find(sig + b"", 0)
        while at != -1:
            n = struct.unpack_from("<H", data, at + name_len_at)[0]
            e = struct.unpack_from("<H", data, at + extra_len_at)[0]
            if bytes(data[at + header : at + header + n]) == name:
                if struct.unpack_from("<I", data, at + size_at)[0] == 0xFFFFFFFF:
                    # zip64: the real sizes live in the extra field (id 0x0001)
                    extra = at + header + n
                    end = extra + e
                    while extra < end:
                        tag, size = struct.unpack_from("<HH", data, extra)
                        if tag == 1:
                            struct.pack_into("<Q", data, extra + 4, declared)
                        extra += 4 + size
                else:
                    struct.pack_into("<I", data, at + size_at, declared)
            at = data.find(sig, at + 4)
    path.write_bytes(bytes(data))


def _refused(path: Path, *flags: str) -> tuple[str, float]:
    t0 = time.monotonic()
    proc = brandex("import", str(path), *flags, "--config", str(path.with_suffix(".toml")))
    took = time.monotonic() - t0
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert took < QUICK, f"{path.name} refused only after {took:.1f} s"
    return proc.stderr.strip(), took


def test_zip_bombs_are_refused_quickly(tmp_path: Path, fault_report) -> None:
    base = tmp_path / "base.xlsx"
    _workbook(base)

    # (a) 400 MB of XML in a file of a few hundred KB: the zip directory says so.
    bomb = tmp_path / "bomb.xlsx"
    _with_sheet(base, bomb, _bomb_sheet(400))
    on_disk = bomb.stat().st_size
    assert on_disk < 2 * MB
    err, took = _refused(bomb)
    assert "unpacks to 400 MB; the limit is 200 MB" in err
    assert "--max-uncompressed-mb" in err
    fault_report(
        "import: zip bomb (400 MB of XML, directory honest)",
        1,
        0,
        f"{on_disk // 1024} KiB on disk; refused in {took:.1f} s: {err[:90]}",
    )

    # (b) the same bomb with its sizes patched to claim 1 KiB: zipfile never
    # inflates past the declared size, so parsing stops at once (CRC / XML error).
    liar = tmp_path / "liar.xlsx"
    liar.write_bytes(bomb.read_bytes())
    _lie_about_size(liar, "xl/worksheets/sheet1.xml", 1024)
    with zipfile.ZipFile(liar) as zf:
        assert zf.getinfo("xl/worksheets/sheet1.xml").file_size == 1024
    err, took = _refused(liar)
    assert "not a readable XLSX file" in err
    fault_report(
        "import: zip bomb with lying size headers (claims 1 KiB)",
        1,
        0,
        f"refused in {took:.1f} s: {err[:90]}",
    )

    # (c) a tiny sheet claiming 16,384 columns and one cell in row 1,048,576.
    sparse = tmp_path / "sparse.xlsx"

    def write_sparse(f) -> None:
        ns = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        f.write(b'<worksheet xmlns="' + ns + b'"><dimension ref="A1:XFD1048576"/><sheetData>')
        f.write(b'<row r="1"><c r="A1" t="inlineStr"><is><t>brand_name</t></is></c></row>')
        f.write(b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>')
        f.write(b"</sheetData></worksheet>")

    _with_sheet(base, sparse, write_sparse)
    err, took = _refused(sparse)
    assert "more than 100000 rows after the header" in err and "--max-rows" in err
    fault_report(
        "import: sparse sheet claiming 1,048,576 rows x 16,384 columns",
        1,
        0,
        f"{sparse.stat().st_size} bytes; refused in {took:.1f} s",
    )
