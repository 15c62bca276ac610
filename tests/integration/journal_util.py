"""The rollback journal's format as the tests see it (docs/JOURNAL_FORMAT.md):
CRC-32C, the count slots, record positions, and a writer of whole journals
(for forged or planted ones). Keep in step with io/journal_format.h."""
import os
import struct

RECORDS_START = 96  # file header (64) and two count slots (16 each)
FILE_MAGIC = 0x314C4E524A524D4D
MANIFEST_MAGIC = 0x324E414D4A524D4D
ENTRY_MAGIC = 0x4E454D4D
SLOT_MAGIC = 0x544E434D
RECORD_MAGIC = 0x5243524D
VERSION = 2

_TABLE = []


def crc32c(data):
    if not _TABLE:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
            _TABLE.append(c)
    c = 0xFFFFFFFF
    for byte in data:
        c = (c >> 8) ^ _TABLE[(c ^ byte) & 0xFF]
    return c ^ 0xFFFFFFFF


def masked(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def with_crc(b):
    return b + struct.pack("<I", masked(crc32c(b)))


def slot(count):
    return with_crc(struct.pack("<QI", count, SLOT_MAGIC))


def counted(path):
    """The record count of a journal file: its newest valid count slot (None if none)."""
    with open(path, "rb") as f:
        head = f.read(RECORDS_START)
    best = None
    for off in (64, 80):
        s = head[off:off + 16]
        if len(s) == 16 and s == slot(struct.unpack("<Q", s[:8])[0]):
            best = max(best or 0, struct.unpack("<Q", s[:8])[0])
    return best


def records_of(path):
    """[(position, length)] of the complete records of a journal file."""
    out = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        pos = RECORDS_START
        while pos + 40 <= size:
            f.seek(pos)
            length = struct.unpack("<Q", f.read(40)[24:32])[0]
            if pos + 40 + length > size:
                break
            out.append((pos, length))
            pos += 40 + length
    return out


def record_header(seq, offset, data):
    return with_crc(struct.pack("<IIQQQI", RECORD_MAGIC, 0, seq, offset, len(data), masked(crc32c(data))))


def write_journal(dataset, records, worker=4242, analysis=0, nonce=0x5EED5EED5EED5EED):
    """Writes a complete, valid journal for `dataset` beside its real file:
    a manifest and one journal file whose counted records hold `records`
    [(offset, bytes)]. Returns the journal folder."""
    st = os.stat(dataset)
    jdir = os.path.realpath(dataset) + ".mmrun-journal"
    os.mkdir(jdir, 0o700)
    man = struct.pack("<QIIQQQQI", MANIFEST_MAGIC, VERSION, 64, st.st_dev, st.st_ino, st.st_size, nonce, 1)
    man = with_crc(man + b"\0" * 8)
    entry = with_crc(struct.pack("<III", ENTRY_MAGIC, worker, analysis))
    with open(os.path.join(jdir, "manifest"), "wb") as f:
        f.write(man + entry)
    head = with_crc(struct.pack("<QIIQQQIIIQ", FILE_MAGIC, VERSION, 64, st.st_dev, st.st_ino, st.st_size, 1,
                                worker, analysis, nonce))
    n = len(records)
    slots = [slot(n if n % 2 == 0 else max(n - 1, 0)), slot(n if n % 2 == 1 else max(n - 1, 0))]
    body = b"".join(record_header(seq, off, data) + data for seq, (off, data) in enumerate(records))
    with open(os.path.join(jdir, "w%d-a%d.jnl" % (worker, analysis)), "wb") as f:
        f.write(head + slots[0] + slots[1] + body)
    return jdir
