"""VERIFY.txt of an export package, in Chinese and English: how to check it by hand and
with its script. Kept apart from the builder so the wording can be reviewed (and
translated) without reading the zip code; docs/design/export-package.md is the reference."""

from __future__ import annotations

_ZH = """\
本导出包的核验说明（surveil 录像导出）
======================================

本包是受理窗口录像的原始文件及其完整性证明。任何人都可以离线核验，无需安装 surveil。

一、用脚本核验（推荐）
  需要 Python 3 和 cryptography 库：
    python3 -m venv v && v/bin/pip install cryptography
    v/bin/python verify.py package.zip --key "<单独取得的公钥行>"
  也可在解压后的文件夹内运行：v/bin/python verify.py
  脚本逐项打印检查结果；全部通过时退出码为 0，否则指出第一个不通过的项目。

二、公钥（log_key）
  manifest.json 中的 log_key 是本录像系统的验证公钥：
    {key}
  仅凭包内的公钥，只能证明各文件彼此一致、由该公钥签署；要证明包来自本单位的录像系统，
  请通过其他途径（单位公告、书面函件、现场核对）取得公钥，并用 --key 传入。

三、签名的内容
  manifest.sig 是对 manifest.json 文件全部字节（原样，不做任何规范化）的 Ed25519 分离签名，
  签名公钥为 log_key。{tsr_zh}

四、手工核验
  1. 哈希：对 segments/ 与 clips/ 下每个文件运行 sha256sum，结果与 manifest.json 中该文件的
     sha256 和 bytes 一致；segments/ 下不得有清单之外的文件，也不得缺少清单中的文件。
  2. 叶子：每个片段的 leaf 是 base64 编码的 JSON（键排序、无空白），其中 sha256、bytes、
     start_us、end_us、camera 与该片段一致。叶子哈希 = SHA-256(0x00 ‖ 叶子字节)。
  3. 包含证明（RFC 9162 §2.1.3）：从叶子哈希出发，依次与 inclusion_proof 中的哈希按节点
     位置组合，节点哈希 = SHA-256(0x01 ‖ 左 ‖ 右)，最终结果必须等于 checkpoint 中的根哈希
     （checkpoint 第三行，base64），树大小为第二行。
  4. checkpoint 是 C2SP 签名便笺：空行之前的正文由 log_key 以 Ed25519 签名
     （签名行“— <名称> <base64(4 字节密钥 ID ‖ 签名)>”）。
  5. clips/ 下的 MP4 由原始片段直接拼接，未转码、未加水印：每个媒体样本与其所列片段中
     对应样本逐字节相同（只改写了 moof 中的序号与解码时间）。缺口从不被跨越，缺口及原因
     列于 manifest.json 的 gaps。
{g711_zh}
五、核验不能证明的内容
  本核验证明：文件自记入日志以来未被改动，且这些片段确实在已签名的日志中。它不能证明
  未录到的画面本应存在（缺口如实列出），也不能防止持有签名私钥的人伪造整个日志；
  因此请单独取得公钥，并妥善保存本包中的 checkpoint。
"""

_EN = """\
How to verify this export package (surveil footage export)
==========================================================

This package holds the original recordings of an acceptance counter and the proofs of
their integrity. Anyone can check it offline, without installing surveil.

1. With the script (recommended)
  It needs Python 3 and the cryptography library:
    python3 -m venv v && v/bin/pip install cryptography
    v/bin/python verify.py package.zip --key "<the key line you obtained separately>"
  or run it inside the unzipped folder: v/bin/python verify.py
  It prints every check; it exits 0 only when all hold, and otherwise names the first
  item that failed.

2. The key (log_key)
  log_key in manifest.json is the recorder's verifier key:
    {key}
  The key inside the package only shows that the files agree with each other and were
  signed by that key. To show the package comes from the agency's recorder, obtain the
  key another way (a notice, a letter, on site) and pass it with --key.

3. What is signed
  manifest.sig is a detached Ed25519 signature, by log_key, of the exact bytes of
  manifest.json (as stored, without any normalisation).{tsr_en}

4. By hand
  1. Hashes: sha256sum every file under segments/ and clips/; each must match its sha256
     and bytes in manifest.json; segments/ must hold no file the manifest does not list,
     and lack none it lists.
  2. Leaves: each segment's leaf is base64 of canonical JSON (sorted keys, no
     whitespace) whose sha256, bytes, start_us, end_us and camera are the segment's.
     Leaf hash = SHA-256(0x00 || leaf bytes).
  3. Inclusion proof (RFC 9162 section 2.1.3): starting from the leaf hash, combine with
     each hash of inclusion_proof in turn, on the side the leaf's index gives, node hash =
     SHA-256(0x01 || left || right); the result must be the root hash of checkpoint (its
     third line, base64) for the tree size on its second line.
  4. checkpoint is a C2SP signed note: the text before the blank line is signed with
     Ed25519 by log_key (signature line "— <name> <base64(4-byte key id || signature)>").
  5. The MP4 files under clips/ are the original segments stitched without transcoding
     or watermarks: every media sample is byte-identical to the corresponding sample of
     the segments it lists (only sequence numbers and decode times in each moof are
     rewritten). A gap is never bridged; gaps and their reasons are listed under gaps.
{g711_en}
5. What this cannot prove
  It proves the files are unchanged since they entered the log and that those segments
  are in the signed log. It cannot prove that footage which was never recorded should
  have been (gaps are listed as they are), nor stop someone holding the signing key from
  forging a whole log; so obtain the key separately and keep this package's checkpoint.
"""

_G711_ZH = """
  注意：本包中的音频为 G.711（μ-law/A-law），常见播放器可能无法播放其声音；画面不受影响，
  可用 ffmpeg/ffplay 或 VLC 播放。
"""
_G711_EN = """
  Note: the audio in this package is G.711 (mu-law/A-law); common players may not play its
  sound. The video is not affected; ffmpeg/ffplay or VLC play both.
"""


def verify_text(*, g711: bool, key_line: str, timestamped: bool) -> str:
    """The VERIFY.txt of a package: Chinese first, then English."""
    tsr_zh = (
        "\n  manifest.tsr 是 RFC 3161 时间戳，覆盖 manifest.json 的全部字节"
        "（可用 openssl ts -verify 核验）。"
        if timestamped
        else ""
    )
    tsr_en = (
        "\n  manifest.tsr is an RFC 3161 timestamp token over the same bytes of manifest.json"
        "\n  (check it with openssl ts -verify and the TSA's certificate)."
        if timestamped
        else ""
    )
    zh = _ZH.format(key=key_line, tsr_zh=tsr_zh, g711_zh=_G711_ZH if g711 else "")
    en = _EN.format(key=key_line, tsr_en=tsr_en, g711_en=_G711_EN if g711 else "")
    return zh + "\n\n" + en
