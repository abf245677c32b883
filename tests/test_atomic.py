"""Escritura atómica compartida por save, las cachés y los registros."""
import os

import pytest

from vaebook_lib.atomic import write_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "modelo.pt"
    write_atomic(path, lambda f: f.write(b"bueno"))
    assert path.read_bytes() == b"bueno" and oct(path.stat().st_mode & 0o777) != "0o600"

    def broken(f):
        f.write(b"a medias")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, broken)
    assert path.read_bytes() == b"bueno" and os.listdir(tmp_path) == ["modelo.pt"]
    write_atomic(tmp_path / "r.json", lambda f: f.write("ñ\n"), text=True)
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == "ñ\n"
