import json

import numpy as np
import pytest

from models import data


def _img(path, w=40, h=30):
    import cv2

    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))
    return path


def test_pts_round_trip_and_folder(tmp_path):
    kp = np.array([[1.5, 2.0], [10.0, 20.25]], np.float32)
    (tmp_path / "a").mkdir()
    data.write_pts(tmp_path / "a" / "x.pts", kp)
    np.testing.assert_allclose(data.read_pts(tmp_path / "a" / "x.pts"), kp, atol=1e-3)
    text = (tmp_path / "a" / "x.pts").read_text()
    assert "n_points: 2" in text and "2.500 3.000" in text  # 1-based on disk
    _img(tmp_path / "a" / "x.jpg")
    (tmp_path / "a" / "orphan.pts").write_text(text)  # no image: skipped
    s = data.load_pts_folder(tmp_path)
    assert [x.name for x in s] == ["a/x"] and s[0].keypoints.shape == (2, 2)


def test_pts_errors(tmp_path):
    (tmp_path / "bad.pts").write_text("version: 1\nn_points: 3\n{\n1 2\n}\n")
    with pytest.raises(ValueError, match="header says 3"):
        data.read_pts(tmp_path / "bad.pts")
    (tmp_path / "worse.pts").write_text("hello")
    with pytest.raises(ValueError, match="not an iBUG"):
        data.read_pts(tmp_path / "worse.pts")


def test_lsp_and_lspet_mat(tmp_path):
    from scipy.io import savemat

    lsp = np.zeros((3, 14, 2))
    lsp[0], lsp[1] = 11.0, 21.0
    lsp[2, 3, 0] = 1  # LSP: 1 = occluded
    savemat(tmp_path / "lsp.mat", {"joints": lsp})
    s = data.load_lsp_mat(tmp_path / "lsp.mat")
    assert len(s) == 2 and s[0].path.endswith("im0001.jpg")
    assert s[0].visible[3] == 0 and s[0].visible[2] == 1
    np.testing.assert_allclose(s[0].keypoints[0], [10.0, 20.0])  # 1-based -> 0-based
    ext = np.zeros((14, 3, 3))
    ext[:, 2, :] = 1
    ext[5, 2, 1] = 0  # LSPET: 1 = visible
    savemat(tmp_path / "lspet.mat", {"joints": ext})
    s = data.load_lsp_mat(tmp_path / "lspet.mat")
    assert len(s) == 3 and s[1].path.endswith("im00002.jpg") and s[1].visible[5] == 0


def test_lsp_csv(tmp_path):
    names = ["r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder",
             "l_shoulder", "l_elbow", "l_wrist", "neck", "head_top"]
    head = "image,width,height,scale," + ",".join(f"{n}_x,{n}_y,{n}_vis" for n in names)
    row = "im00001.jpg,100,80,1.0," + ",".join(f"{i}.0,{2 * i}.0,{int(i != 4)}" for i in range(14))
    (tmp_path / "joints.csv").write_text(head + "\n" + row + "\n")
    s = data.load_lsp_csv(tmp_path / "joints.csv")
    assert len(s) == 1 and s[0].keypoints.shape == (14, 2) and s[0].visible[4] == 0
    np.testing.assert_allclose(s[0].keypoints[3], [3.0, 6.0])


def test_mpii_json(tmp_path):
    ann = [{"image": "a.jpg", "joints": [[i, i + 1] for i in range(16)], "joints_vis": [1] * 15 + [0],
            "center": [50, 60], "scale": 1.0}]
    (tmp_path / "train.json").write_text(json.dumps(ann))
    s = data.load_mpii_json(tmp_path / "train.json", tmp_path)
    assert s[0].visible[15] == 0 and s[0].box == (-50.0, -40.0, 200.0, 200.0)


def test_mpii_mat(tmp_path):
    from scipy.io import savemat

    pt = np.zeros((2,), dtype=[("id", "O"), ("x", "O"), ("y", "O")])
    pt[0] = (0, 11.0, 21.0)
    pt[1] = (9, 31.0, 41.0)
    annop = np.zeros((1,), dtype=[("point", "O")])
    annop[0] = (pt,)
    rect = np.zeros((1,), dtype=[("annopoints", "O")])
    rect[0] = (annop,)
    img = np.zeros((1,), dtype=[("name", "O")])
    img[0] = ("x.jpg",)
    annolist = np.zeros((1,), dtype=[("image", "O"), ("annorect", "O")])
    annolist[0] = (img, rect)
    rel = np.zeros((1,), dtype=[("annolist", "O")])
    rel[0] = (annolist,)
    savemat(tmp_path / "mpii.mat", {"RELEASE": rel})
    s = data.load_mpii_mat(tmp_path / "mpii.mat", tmp_path)
    assert len(s) == 1 and s[0].visible.sum() == 2
    np.testing.assert_allclose(s[0].keypoints[9], [30.0, 40.0])


def test_coco_keypoints(tmp_path):
    d = {"images": [{"id": 7, "file_name": "c.jpg"}],
         "annotations": [{"image_id": 7, "id": 1, "num_keypoints": 2, "bbox": [1, 2, 3, 4],
                          "keypoints": [5, 6, 2, 0, 0, 0] + [0] * 45},
                         {"image_id": 7, "id": 2, "num_keypoints": 0, "keypoints": [0] * 51}]}
    (tmp_path / "k.json").write_text(json.dumps(d))
    s = data.load_coco_keypoints(tmp_path / "k.json", tmp_path)
    assert len(s) == 1 and s[0].keypoints.shape == (17, 2) and s[0].visible[:2].tolist() == [1, 0]


def test_wflw(tmp_path):
    line = " ".join(["1.0"] * 196 + ["0", "0", "10", "20"] + ["0"] * 6 + ["sub/img.jpg"])
    (tmp_path / "list.txt").write_text(line + "\n")
    s = data.load_wflw(tmp_path / "list.txt", tmp_path)
    assert s[0].keypoints.shape == (98, 2) and s[0].box == (0.0, 0.0, 10.0, 20.0)
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    with pytest.raises(ValueError, match="207 fields"):
        data.load_wflw(tmp_path / "bad.txt", tmp_path)


def test_split_is_deterministic_and_disjoint():
    s = [data.Sample("p", np.zeros((1, 2)), np.ones(1), name=f"n{i}") for i in range(500)]
    a, b = data.split(s)
    a2, b2 = data.split(list(reversed(s)))
    assert {x.name for x in b} == {x.name for x in b2}
    assert not {x.name for x in a} & {x.name for x in b}
    assert 25 < len(b) < 80


def test_shared_face_data_reads(shared_data):
    s = data.load_dataset("face")
    assert len(s) == 2012 and s[0].keypoints.shape == (68, 2)
    img = s[0].load_image()
    assert img.shape == (256, 256, 3)
    p = data.load_dataset("pose")
    assert len(p) == 9000 and p[0].keypoints.shape == (14, 2)


def test_data_hash_follows_the_labels_not_the_order():
    import numpy as np

    from models.data import Sample, data_hash

    def s(name, x):
        return Sample(name=name, path=None, keypoints=np.full((2, 2), x, np.float32), visible=np.ones(2, np.uint8))

    a, b = s("a", 1.0), s("b", 2.0)
    assert data_hash([a, b]) == data_hash([b, a]) and len(data_hash([a])) == 64
    assert data_hash([a, b]) != data_hash([a, s("b", 2.5)]) != data_hash([a])
