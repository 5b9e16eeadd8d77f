import tinycim.data as data
from tests.data.test_har import expected_windows, make_hapt
from tinycim.data import har


def test_hapt_subjects_follow_the_all_split(tmp_path):
    folder = make_hapt(tmp_path)
    subjects = har.hapt_subjects(folder)
    everything = data.load("hapt", folder, "all")
    assert len(subjects) == len(everything)
    counts = expected_windows()
    assert {int(s): int((subjects == s).sum()) for s in set(subjects.tolist())} == {
        u: n for (_, u), n in counts.items()
    }
    test, _ = har.hapt_subject_split(list(subjects), 0)
    assert int((subjects == 2).sum()) == len(data.load("hapt", folder, "test")) and test == [2]
