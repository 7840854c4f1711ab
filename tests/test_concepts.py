"""Concepts: storage in RUN/concepts.json, name rules, and mining from labelled real images."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.core.features import d_features
from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator
from ganlab.core.seeds import concept_z, z_from_seeds
from ganlab.errors import GanlabError
from ganlab.experiments.concept import (
    add_concept,
    load_labelled,
    mine,
    mine_concepts,
    remove_concept,
)
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.concepts import load_concepts
from ganlab.io.images import to_uint8


@pytest.fixture(scope="module")
def trained(tiny_run):
    return tiny_run


@pytest.fixture
def run(trained, tmp_path):
    """A fresh copy of the trained run per test, so concepts.json starts absent."""
    dst = tmp_path / "run"
    shutil.copytree(trained, dst)
    return dst


def test_storage_round_trips(run):
    add_concept(run, "man with glasses", [3, 17, 42])
    add_concept(run, "woman", [5])
    cs = load_concepts(run)
    assert list(cs.concepts) == ["man with glasses", "woman"]
    assert cs.concepts["man with glasses"].seeds == [3, 17, 42]
    assert (cs.nz, cs.z_dist) == (16, "uniform")
    src = cs.concepts["woman"].source
    assert src["kind"] == "manual" and src["step"] == 28 and len(src["checkpoint_sha256"]) == 64
    text = (run / "concepts.json").read_text()
    assert '"man with glasses": {\n' in text  # indented: readable and editable by hand
    assert json.loads(text)["format"] == "ganlab-concepts"
    # the mean of the exemplars is the concept's z
    z = concept_z(cs.concepts["man with glasses"], 16, "uniform")
    torch.testing.assert_close(z, z_from_seeds([3, 17, 42], 16, "uniform").mean(0))
    remove_concept(run, "woman")
    assert list(load_concepts(run).concepts) == ["man with glasses"]
    with pytest.raises(GanlabError, match="already exists"):
        add_concept(run, "man with glasses", [1])
    add_concept(run, "man with glasses", [1], replace=True)
    assert load_concepts(run).concepts["man with glasses"].seeds == [1]
    with pytest.raises(GanlabError, match="no concept named 'man with glases'.*Did you mean"):
        remove_concept(run, "man with glases")


def test_checkpoint_file_stores_in_its_run_dir(run):
    pt = load_checkpoint(run).path
    add_concept(pt, "a", [1, 2])
    assert (run / "concepts.json").is_file()


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 65, "at most 64"),
        ("tab\there", "control characters"),
        ("new\nline", "control characters"),
        ("bell\x07", "control characters"),
        (" padded", "starts or ends"),
        ("left:right", "':'"),
    ],
)
def test_bad_names_are_refused_and_nothing_written(cli, run, name, fragment):
    with pytest.raises(GanlabError, match=fragment):
        add_concept(run, name, [1])
    result = cli("concept", "add", name, "--seeds", "1,2", "--run", run)
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr and "Traceback" not in result.output
    assert not (run / "concepts.json").exists()


def test_malformed_file_is_reported(run):
    (run / "concepts.json").write_text(
        '{"format": "ganlab-concepts", "version": 1, "nz": 16,'
        ' "z_dist": "uniform", "concepts": {"a": {"seeds": [-1]}}}'
    )
    with pytest.raises(GanlabError, match="non-negative integers"):
        load_concepts(run)
    (run / "concepts.json").write_text("{not json")
    with pytest.raises(GanlabError, match="cannot read"):
        load_concepts(run)


def test_concept_cli_add_list_remove(cli, run):
    result = cli("concept", "add", "man with glasses", "--seeds", "3,17,42", "--run", run)
    assert result.exit_code == 0, result.output
    listed = cli("concept", "list", "--run", run, "--json")
    assert json.loads(listed.stdout)[0]["seeds"] == [3, 17, 42]
    assert "man with glasses  3,17,42" in cli("concept", "list", "--run", run).stdout
    assert cli("concept", "remove", "man with glasses", "--run", run).exit_code == 0
    assert json.loads(cli("concept", "list", "--run", run, "--json").stdout) == []
    missing = cli("concept", "remove", "nope", "--run", run)
    assert missing.exit_code == 1 and "no concept named 'nope'" in missing.stderr


def test_mining_on_digits_gives_concepts_the_classifier_assigns_to_their_label(trained):
    ckpt = load_checkpoint(trained)
    real = load_labelled(ckpt)
    assert real.images.shape == (1797, 1, 16, 16) and real.columns[0].name == "class"
    concepts, (clf,), _ = mine(ckpt, real, pool=400, per_concept=3)
    assert clf.heldout_accuracy > 0.6  # ten classes: chance is 0.1
    D = load_discriminator(ckpt)
    pool = to_uint8(generate(ckpt, z_from_seeds(list(range(400)), 16, "uniform")))
    pool_proba = clf.predict_proba(d_features(D, pool).numpy())  # (400, 10)
    assigned = {clf.classes[k] for k in pool_proba.argmax(1)}
    # every label the pool reaches gets a concept (a tiny G may reach only a few labels)
    assert sorted(c.name for c in concepts) == sorted(assigned)
    assert sum(c.source["pool_assigned"] for c in concepts) == 400
    for c in concepts:
        assert len(c.seeds) <= 3 and max(c.seeds) < 400
        # re-render the exemplars from their seeds alone: the classifier says they are c.name
        images = to_uint8(generate(ckpt, z_from_seeds(c.seeds, 16, "uniform")))
        proba = clf.predict_proba(d_features(D, images).numpy())
        assert [clf.classes[k] for k in proba.argmax(1)] == [c.name] * len(c.seeds)
        assert proba[:, clf.classes.index(c.name)].tolist() == pytest.approx(
            c.source["scores"], abs=1e-4
        )
        assert c.source["column"] == "class" and c.source["pool_seeds"] == "0-399"
        # ... and they are its most confident ones: no other pool sample of the label scores more
        k = clf.classes.index(c.name)
        others = [p[k] for s, p in enumerate(pool_proba) if p.argmax() == k and s not in c.seeds]
        assert min(c.source["scores"]) >= max(others, default=0) - 1e-4


def test_mine_cli_stores_with_provenance(cli, run):
    result = cli("concept", "mine", "--run", run, "--pool", "200", "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "concept mine" and data["argv"][:3] == ["ganlab", "concept", "mine"]
    cs = load_concepts(run)
    assert sorted(c["name"] for c in data["concepts"]) == sorted(cs.concepts)
    src = next(iter(cs.concepts.values())).source
    assert src["kind"] == "mined" and src["labels"] == "dataset digits (split all)"
    assert 0 <= src["heldout_accuracy"] <= 1 and src["n_heldout"] > 0
    again = cli("concept", "mine", "--run", run, "--pool", "200", "--device", "cpu")
    assert again.exit_code == 1 and "--replace" in again.stderr


@pytest.fixture
def labelled_folder(tmp_path):
    """Digits as PNG files (8x8 upscaled), listed in a CSV and a CelebA-style attribute file."""
    from ganlab.data import load_dataset

    ds = load_dataset("digits", split="test", image_size=32)
    root = tmp_path / "imgs"
    root.mkdir()
    rows = []
    for i in range(120):
        image, label = ds[i]
        Image.fromarray(image[0].numpy(), "L").save(root / f"{i:04d}.png")
        rows.append((f"{i:04d}.png", label))
    (tmp_path / "labels.csv").write_text(
        "path,digit,parity\n"
        + "".join(f"{p},d{lab},{'even' if lab % 2 == 0 else 'odd'}\n" for p, lab in rows)
    )
    (tmp_path / "single.csv").write_text(
        "path,label\n"
        + "".join(f"{p},{'small' if lab < 5 else 'large'}\n" for p, lab in rows)
        + "missing.png,small\n"
    )
    (tmp_path / "list_attr.txt").write_text(
        f"{len(rows)}\nLow Even\n"
        + "".join(f"{p} {1 if lab < 5 else -1} {1 if lab % 2 == 0 else -1}\n" for p, lab in rows)
    )
    return tmp_path


def test_mine_from_label_files(run, labelled_folder):
    ckpt = load_checkpoint(run)
    real = load_labelled(ckpt, labelled_folder / "imgs", labelled_folder / "labels.csv")
    assert real.images.shape == (120, 1, 16, 16)
    names = {n for col in real.columns for n in col.concept_names.values()}
    assert {"digit=d0", "parity=even", "parity=odd"} <= names
    result = mine_concepts(
        run,
        data_root=labelled_folder / "imgs",
        labels=labelled_folder / "single.csv",
        pool=100,
        device="cpu",
    )
    assert {c["name"] for c in result.concepts} <= {"small", "large"}
    assert "1 listed image(s) were missing" in result.warnings[0]
    celeba = load_labelled(
        ckpt, labelled_folder / "imgs", labelled_folder / "list_attr.txt", columns=["Even"]
    )
    assert [c.name for c in celeba.columns] == ["Even"]
    assert set(celeba.columns[0].concept_names.values()) == {"Even", "not Even"}
    with pytest.raises(GanlabError, match="its label columns are: Low, Even"):
        load_labelled(
            ckpt, labelled_folder / "imgs", labelled_folder / "list_attr.txt", columns=["Smiling"]
        )


def test_label_file_needs_a_header(run, labelled_folder):
    (labelled_folder / "bare.csv").write_text("0000.png,d0\n0001.png,d1\n")
    with pytest.raises(GanlabError, match="header row"):
        mine_concepts(run, labelled_folder / "imgs", labelled_folder / "bare.csv")
    assert not (run / "concepts.json").exists()


def test_real_features_match_d_in_eval_mode(trained):
    # a feature must not depend on the image's batch-mates (D in eval mode)
    ckpt = load_checkpoint(trained)
    images = load_labelled(ckpt).images[:10]
    D = load_discriminator(ckpt)
    np.testing.assert_allclose(
        d_features(D, images).numpy()[3:4], d_features(D, images[3:4]).numpy(), rtol=1e-5, atol=1e-6
    )


# --- boundaries, stored classifiers, exemplar choice, names ---------------------------------------


@pytest.fixture(scope="module")
def longer(tiny_config, tmp_path_factory):
    """A tiny digits run trained 4 epochs: its pool reaches several classes (1 epoch: one)."""
    from ganlab.core.train import train

    out = tmp_path_factory.mktemp("longer") / "run"
    train(tiny_config(epochs=4), out=out)
    return out


def test_mined_concepts_record_their_boundary_and_classifier(longer, tmp_path):
    from ganlab.io.concepts import load_classifier

    run = tmp_path / "run"
    shutil.copytree(longer, run)
    result = mine_concepts(run, pool=400, per_concept=3, device="cpu")
    cs = load_concepts(run)
    with_boundary = [c for c in cs.concepts.values() if c.boundary]
    assert with_boundary, "no label got a boundary"
    for c in with_boundary:
        normal = np.array(c.boundary["normal"])
        assert normal.shape == (16,) and np.linalg.norm(normal) == pytest.approx(1, abs=1e-6)
        info = c.source["boundary"]
        assert 0 <= info["heldout_accuracy"] <= 1 and info["n_heldout"] == 80
        assert info["pool_seeds"] == "0-399" and "LogisticRegression" in info["method"]
        # pool_mean is the mean z of the pool samples the classifier gives the concept
        assert c.boundary["pool_mean"] == pytest.approx(
            z_from_seeds(list(range(400)), 16, "uniform")
            .numpy()[_assigned(run, c.source["classifier_file"]) == c.source["value"]]
            .mean(0)
            .tolist(),
            abs=1e-5,
        )
    assert {c["boundary_heldout_accuracy"] for c in result.concepts} - {None}
    # the stored classifier (plain arrays) predicts as the fitted one
    ckpt = load_checkpoint(run)
    real = load_labelled(ckpt)
    _, (clf,), _ = mine(ckpt, real, pool=400, per_concept=3)
    stored = load_classifier(run, with_boundary[0].source["classifier_file"])
    feats = d_features(load_discriminator(ckpt), real.images[:200]).numpy()
    proba = clf.predict_proba(feats)  # (200, K), scikit-learn's
    expect = [clf.classes[k] for k in proba.argmax(1)]
    assert stored.predict(feats) == expect
    np.testing.assert_allclose(stored.probabilities(feats), proba, rtol=1e-4, atol=1e-6)
    assert json.loads((run / "concepts.json").read_text())["version"] == 3


def _assigned(run, classifier_file):
    from ganlab.io.concepts import load_classifier

    ckpt = load_checkpoint(run)
    clf = load_classifier(run, classifier_file)
    pool = to_uint8(generate(ckpt, z_from_seeds(list(range(400)), 16, "uniform")))
    return np.array(clf.predict(d_features(load_discriminator(ckpt), pool).numpy()))


def test_bad_boundary_in_file_is_reported(run):
    add_concept(run, "a", [1])
    data = json.loads((run / "concepts.json").read_text())
    data["concepts"]["a"]["boundary"] = {"normal": [0.0] * 3, "pool_mean": [0.0] * 16}
    (run / "concepts.json").write_text(json.dumps(data))
    with pytest.raises(GanlabError, match='bad "boundary"'):
        load_concepts(run)


def test_stratified_exemplars_spread_over_the_confident_range():
    from ganlab.experiments.concept import pick_exemplars

    idx = np.arange(100, 120)
    scores = np.linspace(1.0, 0.5, 20)  # idx 100 scores 1.0 ... idx 119 scores 0.5
    assert pick_exemplars(idx, scores, 3, "extreme").tolist() == [100, 101, 102]
    assert int((scores >= 0.8).sum()) == 8  # idx 100..107 are confident
    # first, middle (rank 3.5, rounded to even) and last of the confident ones
    assert pick_exemplars(idx, scores, 3, "stratified").tolist() == [100, 104, 107]
    assert pick_exemplars(idx[:2], scores[:2], 3, "stratified").tolist() == [100, 101]


@pytest.fixture
def people(labelled_folder):
    """The digit images with a 4-column CSV: path,gender,age,race."""
    rows = [line.split(",") for line in (labelled_folder / "labels.csv").read_text().split()[1:]]
    (labelled_folder / "people.csv").write_text(
        "path,gender,age,race\n"
        + "".join(
            f"{p},{'man' if int(d[1:]) < 5 else 'woman'},{'young' if par == 'even' else 'old'},"
            f"{'abc'[int(d[1:]) % 3]}\n"
            for p, d, par in rows
        )
    )
    return labelled_folder


def test_one_column_names_concepts_by_value_and_clashes_need_replace(cli, run, people):
    ckpt = load_checkpoint(run)
    imgs, csv = people / "imgs", people / "people.csv"
    one = load_labelled(ckpt, imgs, csv, columns=["gender"])
    assert set(one.columns[0].concept_names.values()) == {"man", "woman"}
    both = load_labelled(ckpt, imgs, csv, columns=["gender", "age"])
    assert {n for c in both.columns for n in c.concept_names.values()} == {
        "gender=man",
        "gender=woman",
        "age=young",
        "age=old",
    }
    add_concept(run, "woman", [1, 2, 3])
    args = ["concept", "mine", "--run", run, "--labels", csv, "--data-root", imgs]
    clash = cli(*args, "--columns", "gender", "--pool", "100", "--device", "cpu")
    assert clash.exit_code == 1 and "'woman'" in clash.stderr and "--replace" in clash.stderr
    assert load_concepts(run).concepts["woman"].seeds == [1, 2, 3]  # nothing written
    ok = cli(*args, "--columns", "gender", "--pool", "100", "--replace", "--json")
    assert ok.exit_code == 0, ok.output
    names = {c["name"] for c in json.loads(ok.stdout)["concepts"]}
    assert names and names <= {"man", "woman"}
    cs = load_concepts(run)
    name = sorted(names)[0]
    # either form finds a mined concept
    assert cs.find(f"gender={name}") is cs.concepts[name]
    assert cs.find(name) is cs.concepts[name]
    with pytest.raises(GanlabError, match=r"no concept named 'child' .*known: .*'" + name):
        cs.require(["child"])


# --- concepts that combine labels (--define) ------------------------------------------------------

GLASSES = {  # the paper's first face equation, in CelebA's attribute names
    "man with glasses": ("Male,Eyeglasses", ["1", "1"]),
    "man without glasses": ("Male,-Eyeglasses", ["1", "-1"]),
    "woman without glasses": ("-Male,-Eyeglasses", ["-1", "-1"]),
}


@pytest.fixture
def attr_run(attribute_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(attribute_run, dst)
    return dst


def test_defined_concepts_satisfy_every_part_surest_first(attr_run, attribute_file):
    from ganlab.io.concepts import load_classifier

    define = [f"{name}={text}" for name, (text, _) in GLASSES.items()]
    result = mine_concepts(
        attr_run, labels=attribute_file, define=define, pool=400, per_concept=5, device="cpu"
    )
    assert [c["name"] for c in result.concepts] == list(GLASSES)
    cs = load_concepts(attr_run)
    assert list(cs.concepts) == list(GLASSES)  # only the defined concepts are mined
    ckpt = load_checkpoint(attr_run)
    pool = to_uint8(generate(ckpt, z_from_seeds(list(range(400)), 16, "uniform")))
    feats = d_features(load_discriminator(ckpt), pool).numpy()  # (400, F)
    for name, (text, values) in GLASSES.items():
        c = cs.concepts[name]
        src = c.source
        assert src["kind"] == "mined" and src["definition"] == text
        assert [(p["column"], p["value"]) for p in src["parts"]] == list(
            zip(["Male", "Eyeglasses"], values, strict=True)
        )
        assert len(c.seeds) == 5 and src["pool_seeds"] == "0-399" and c.boundary is not None
        ok, joint = np.ones(400, dtype=bool), np.ones(400)
        for part in src["parts"]:
            assert 0.5 < part["heldout_accuracy"] <= 1 and part["n_heldout"] == 60
            clf = load_classifier(attr_run, part["classifier_file"])  # the run's classifier
            ok &= np.array(clf.predict(feats)) == part["value"]
            joint *= clf.probabilities(feats)[:, clf.classes.index(part["value"])]
        assert ok[c.seeds].all()  # every exemplar satisfies every part
        assert src["pool_qualified"] == int(ok.sum()) >= 5
        # ranked by joint probability: the exemplars are the surest qualifying samples
        assert src["scores"] == pytest.approx(joint[c.seeds].tolist(), abs=1e-4)
        assert src["scores"] == sorted(src["scores"], reverse=True)
        rest = np.flatnonzero(ok & ~np.isin(np.arange(400), c.seeds))
        assert min(src["scores"]) >= joint[rest].max(initial=0) - 1e-4
    assert result.concepts[0]["heldout_accuracy"].keys() == {"Male", "Eyeglasses"}


def test_define_errors_are_one_paragraph_and_write_nothing(cli, attr_run, attribute_file):
    args = ["concept", "mine", "--run", attr_run, "--labels", attribute_file, "--pool", "400"]
    args += ["--per-concept", "3", "--device", "cpu"]
    cases = [  # (--define, exit code, fragments)
        ("young smiling man=Male,Smiling,Young", 1, ["'young smiling man'", "0 of 400", "--pool"]),
        ("man with glasses=Male,Glasses", 1, [
            "'Glasses' is not an attribute of",
            "its attributes are: Male, Eyeglasses, Smiling, Young.",
            "-NAME for its absence",
        ]),
        ("man with glasses", 1, ["write NAME=PARTS"]),
        ("odd=Male,-Male", 1, ["names 'Male' twice"]),
    ]  # fmt: skip
    for define, code, fragments in cases:
        result = cli(*args, "--define", define)
        assert result.exit_code == code, result.output
        assert all(f in result.stderr for f in fragments), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    no_labels = cli("concept", "mine", "--run", attr_run, "--define", "x=Male")
    assert no_labels.exit_code == 2 and "--labels" in no_labels.stderr
    both = cli(*args, "--define", "x=Male", "--columns", "Male")
    assert both.exit_code == 2 and "--columns" in both.stderr
    assert not (attr_run / "concepts.json").exists()


def test_definitions_name_a_csvs_values(run, people):
    from ganlab.experiments.concept import parse_definitions, read_label_table

    _, columns = read_label_table(people / "people.csv")
    young_woman, not_a, man = parse_definitions(
        ["young woman=gender=woman,age=young", "not a=woman,-race=a", "man=-gender=woman"],
        columns,
        "people.csv",
    )
    assert [(p.column, p.value, p.negated) for p in young_woman.parts] == [
        ("gender", "woman", False),
        ("age", "young", False),
    ]
    # a bare value one column holds; "-" of a three-valued column: any other value
    assert [(p.column, p.value, p.negated) for p in not_a.parts] == [
        ("gender", "woman", False),
        ("race", "a", True),
    ]
    # "-" of a two-valued column is its other value
    assert [(p.column, p.value, p.negated) for p in man.parts] == [("gender", "man", False)]
    with pytest.raises(GanlabError, match=r"gender \(man, woman\); age \(old, young\); race"):
        parse_definitions(["child=gender=child"], columns, "people.csv")
