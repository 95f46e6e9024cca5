"""The run folder's owner: its file names, what counts as one, removing a run."""

from slmlab import runfolder
from slmlab.config import preset
from slmlab.train import train

CFG = dict(max_steps=10, eval_interval=5)


def test_remove_deletes_a_run_but_keeps_its_records_when_asked(tmp_path):
    out = tmp_path / "run"
    train(preset("smoke", **CFG), out_dir=out, progress=False)
    runfolder.record_file(out, "stats").parent.mkdir()
    runfolder.record_file(out, "stats").write_text("{}")
    assert runfolder.is_run_folder(out) and not runfolder.is_run_folder(tmp_path)
    runfolder.remove(out, records=False)
    assert [p.name for p in out.rglob("*")] == [runfolder.RECORDS, "stats.json"]
    runfolder.remove(out)
    assert not runfolder.is_run_folder(out) and not runfolder.record_file(out, "stats").exists()
