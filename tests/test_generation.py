"""Avatars for users: text-to-avatar, completion of a partial avatar, editing, animation, and their CLI.

The model under test is a tiny GenLCA trained (~20 s) on two versions of one synthetic subject that differ only
in the colour of the top ("a person in a red top" / "... green top"): small enough to overfit, so the tests
can check that text, edits and completions do what a user expects, not only that they run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from genlca.avatar import CHANNELS

R = 32
RED, GREEN = (0.8, 0.1, 0.1), (0.1, 0.6, 0.2)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def layout32(anny):
    from genlca.body.uv_layout import uv_layout

    return uv_layout(anny, R)


@pytest.fixture(scope="module")
def subject(anny):
    from genlca.data.synth.subject import sample_subject

    return sample_subject(np.random.default_rng(0), anny)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, anny, layout32, subject):
    from genlca.data.synth.generator import subject_avatar
    from genlca.diffusion.data import Normalizer, TokenMapsDataset
    from genlca.diffusion.text import TextEncoder
    from genlca.diffusion.train import TrainConfig, train_diffusion

    torch.set_num_threads(1)
    maps, captions = [], []
    for color, word in ((RED, "red"), (GREEN, "green")):
        avatar, regions, _ = subject_avatar(anny, layout32, subject)
        avatar.maps[CHANNELS["rgb"]][:, regions["top"]] = torch.tensor(color)[:, None]
        maps.append(avatar.maps)
        captions.append(f"a person in a {word} top")
    maps = torch.stack(maps)
    chart = layout32.mask.bool()
    valid = chart.expand(2, -1, -1).clone()
    ds = TokenMapsDataset(maps, torch.stack([subject.shape] * 2), valid, captions, Normalizer.fit(maps, valid), chart,
                          regions=layout32.part, version="two-tops")
    out = tmp_path_factory.mktemp("genlca") / "ckpt"
    train_diffusion(ds, out, TrainConfig(steps=300, batch_size=4, lr=2e-3, threads=1, model_kwargs={"patch_size": 4}),
                    text_encoder=TextEncoder(), progress=False)
    return out


@pytest.fixture(scope="module")
def generator(checkpoint):
    from genlca.generation.generator import AvatarGenerator

    return AvatarGenerator(checkpoint)


def top_rgb(tokens, mask) -> torch.Tensor:
    return tokens.maps[CHANNELS["rgb"]][:, mask].mean(1)


def opts(**kw):
    from genlca.generation.generator import SamplerOptions

    return SamplerOptions(**({"steps": 10} | kw))


@pytest.fixture(scope="module")
def top(anny, layout32, subject):
    from genlca.generation.regions import region_mask

    return region_mask("upper_body", anny, layout32, subject.shape)


def test_regions_are_disjoint_where_they_should_be_and_inside_the_chart(anny, layout32, subject):
    from genlca.generation.regions import EDIT_REGIONS, region_mask

    masks = {r: region_mask(r, anny, layout32, subject.shape) for r in EDIT_REGIONS}
    chart = layout32.mask.bool()
    for name, m in masks.items():
        assert m.any() and not (m & ~chart).any(), name
    assert not (masks["upper_body"] & masks["lower_body"]).any()
    assert not (masks["arms"] & masks["legs"]).any() and not (masks["legs"] & masks["feet"]).any()
    assert (masks["hair"] & ~masks["head"]).sum() < masks["hair"].sum()  # hair is mostly on the head
    with pytest.raises(ValueError, match="unknown region 'torso'"):
        region_mask("torso", anny, layout32)


def test_text_decides_the_colour_and_a_seed_repeats(generator, top):
    red, green = generator.from_text(["a person in a red top", "a person in a green top"], opts())
    assert torch.allclose(top_rgb(red, top), torch.tensor(RED), atol=0.1)
    assert torch.allclose(top_rgb(green, top), torch.tensor(GREEN), atol=0.1)
    assert red.meta["caption"] == "a person in a red top" and red.meta["seed"] == 0
    again, _ = generator.from_text(["a person in a red top", "a person in a green top"], opts())
    assert torch.equal(again.maps, red.maps)
    [other] = generator.from_text(["a person in a red top"], opts(seed=1))
    assert not torch.equal(other.maps, red.maps)


def test_edit_changes_the_region_and_keeps_the_rest(generator, top, anny, layout32):
    from genlca.generation.regions import region_mask

    [red] = generator.from_text(["a person in a red top"], opts())
    edited = generator.edit(red, "upper_body", "a person in a green top", 1.0, opts())
    chart = generator.chart
    region = region_mask("upper_body", anny, layout32, red.shape)  # on the avatar's own body shape
    rest = chart & ~region
    assert torch.equal(edited.maps[:, rest], red.maps[:, rest])  # the rest, exactly
    assert torch.allclose(top_rgb(edited, top), torch.tensor(GREEN), atol=0.1)
    from genlca.generation.demo import region_color_change

    change = region_color_change(red, edited, region)
    assert change["inside"] > 0.5 and change["outside_max"] == 0.0
    # SDEdit: a light touch (strength 0.05 starts nearly at the avatar itself) changes the region far less.
    light = generator.edit(red, "upper_body", "a person in a green top", 0.05, opts())
    assert region_color_change(red, light, region)["inside"] < 0.5 * change["inside"]
    assert light.meta["steps"] == 1 and light.meta["strength"] == 0.05


def test_completion_keeps_what_was_seen_and_generates_the_rest(generator, top, anny):
    """A 'photo' that saw the body but the top: the model fills the top from the prompt; seen texels stay."""
    [green] = generator.from_text(["a person in a green top"], opts())
    seen = generator.chart & ~top
    partial = type(green)(maps=green.maps.clone(), visibility=seen.float(), count=seen.to(torch.int32),
                          shape=green.shape, body_model=green.body_model, meta={"source": "test.jpg"})
    partial.maps[:, ~seen] = 0.0  # what a tokenizer would not know
    [full] = generator.complete([partial], ["a person in a red top"], opts())
    assert torch.equal(full.maps[:, seen], green.maps[:, seen])
    assert torch.allclose(top_rgb(full, top), torch.tensor(RED), atol=0.15)
    assert full.meta["observed_share"] == pytest.approx(float(seen.sum() / generator.chart.sum()), abs=1e-3)
    assert torch.allclose(full.shape, green.shape)  # the fitted body is kept
    assert generator.meta["cond_visibility"] == "binary"  # trained without tokenizer confidences
    # keep="confidence": texels seen with confidence c keep c of the photo's value (the condition of this
    # checkpoint is binary, so the generation underneath is the same for any confidence).
    partial.visibility = seen.float() * 0.0
    [generated] = generator.complete([partial], ["a person in a red top"], opts(), keep="confidence")
    partial.visibility = seen.float() * 0.5
    [half] = generator.complete([partial], ["a person in a red top"], opts(), keep="confidence")
    expected = 0.5 * green.maps[:, seen] + 0.5 * generated.maps[:, seen]
    assert torch.allclose(half.maps[:, seen], expected, atol=1e-5)
    with pytest.raises(ValueError, match="keep must be one of"):
        generator.complete([partial], None, opts(), keep="all")


def test_known_shape_and_sdedit_arguments_of_the_sampler(generator):
    from genlca.diffusion.flow import sample

    shape = torch.randn(2, generator.model.shape_dim)
    _, s = sample(generator.model, 2, steps=3, known_shape=shape)
    assert torch.allclose(s, shape, atol=1e-5)
    with pytest.raises(ValueError, match="give init"):
        sample(generator.model, 1, steps=2, t_start=0.5)


def test_ply_round_trip_and_the_avatar_opens_as_3dgs(generator, tmp_path, layout32):
    from genlca.generation.generator import load_avatar_tokens, save_avatar
    from genlca.render.ply import load_ply

    [a] = generator.from_text(["a person in a red top"], opts(steps=3))
    path = save_avatar(a, tmp_path / "a.ply")
    gaussians, avatar = load_ply(path)
    assert len(gaussians) == int(layout32.mask.sum()) and torch.isfinite(gaussians.means).all()
    back = load_avatar_tokens(path)
    assert torch.equal(back.maps, a.maps.float()) and torch.allclose(back.shape, a.shape)
    with pytest.raises(ValueError, match=r"\.ply or \.safetensors"):
        save_avatar(a, tmp_path / "a.obj")


def test_animation_stays_intact_and_a_broken_avatar_is_caught(generator, anny, tmp_path):
    from genlca.data.video import read_video
    from genlca.generation.animate import MOTIONS, animate, load_clip

    [a] = generator.from_text(["a person in a green top"], opts(steps=3))
    for motion in MOTIONS:
        r = animate(a, load_clip(motion, anny, seconds=0.5, fps=8), tmp_path / f"{motion}.mp4", anny, size=64)
        assert r["intact"] and r["frames"] == 4, (motion, r)
        assert read_video(tmp_path / f"{motion}.mp4").shape[0] == 4
    broken = type(a)(maps=a.maps.clone(), visibility=a.visibility, count=a.count, shape=a.shape,
                     body_model=a.body_model)
    broken.maps[CHANNELS["offset"]][:, 10, 10] = torch.tensor([0.0, 0.0, 2.0])  # one Gaussian 2 m off its surface
    r = animate(broken, load_clip("wave", anny, seconds=0.25, fps=8), tmp_path / "broken.mp4", anny, size=64)
    assert not r["intact"] and r["max_excursion_m"] > 1.0
    with pytest.raises(ValueError, match="neither a motion"):
        load_clip("dance", anny)


def _body_outside_head(body) -> torch.Tensor:
    """(V,) bool: vertices of the visible surface (faces that carry Gaussians) that no head face touches."""
    from genlca.body.protocol import PART_NAMES
    from genlca.generation.animate import head_vertices

    parts = body.face_parts
    out = torch.zeros(body.num_vertices, dtype=torch.bool)
    out[body.faces[(parts >= 0) & (parts != PART_NAMES.index("head"))].flatten()] = True
    return out & ~head_vertices(body)


def test_facial_expressions_move_the_face_only(anny):
    """Anny's face units through `pose(..., expression=)`: a jaw opening moves the lower face centimetres
    and nothing of the visible body outside the head; zero weights change nothing."""
    from genlca.body.poses import walk

    names = anny.expression_names
    assert len(names) == 52 and {"jawOpen", "eyeBlinkLeft", "mouthSmileRight"} <= set(names)
    shape = anny.default_shape(3)
    pose = {k: v.expand(3, 3, 3) for k, v in walk(torch.tensor([0.7])).items()}
    weights = torch.zeros(3, len(names))
    weights[1, names.index("jawOpen")] = 1.0
    weights[2, names.index("eyeBlinkLeft")] = 1.0
    plain = anny.pose(shape, pose).vertices
    faced = anny.pose(shape, pose, expression=weights).vertices
    moved = (faced - plain).norm(dim=-1)  # (3, V)
    assert float(moved[0].max()) == 0.0
    assert 0.02 < float(moved[1].max()) < 0.06 and 0.005 < float(moved[2].max()) < 0.03
    assert float(moved[:, _body_outside_head(anny)].max()) < 1e-3, "an expression moved the body outside the head"
    down = (faced[1] - plain[1])[moved[1] > 1e-3][:, 2].mean()
    assert float(down) < 0, "the jaw opens downwards"
    with pytest.raises(ValueError, match="52 face units"):
        anny.pose(shape, pose, expression=torch.zeros(3, 5))


def test_expression_time_courses():
    from genlca.generation.expressions import EXPRESSIONS, expression_weights

    names = ("jawOpen", "mouthFunnel", "mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight",
             "eyeSquintLeft", "eyeSquintRight", "eyeBlinkLeft", "eyeBlinkRight")
    smile = expression_weights("smile", 24, 24.0, names)
    left = smile[:, names.index("mouthSmileLeft")]
    assert float(left[0]) == 0.0 and float(left[-1]) == pytest.approx(0.9) and bool((left.diff() >= 0).all())
    assert float(smile[:, names.index("jawOpen")].abs().max()) == 0.0
    blink = expression_weights("blink", 48, 24.0, names)[:, names.index("eyeBlinkLeft")]
    assert float(blink.max()) > 0.95 and float((blink > 0.5).float().mean()) < 0.15  # closed briefly, once
    talk = expression_weights("talk", 48, 24.0, names)[:, names.index("jawOpen")]
    assert float(talk.max()) > 0.3 and int(((talk[1:] > 0.25) & (talk[:-1] <= 0.25)).sum()) >= 4  # the jaw keeps moving
    assert expression_weights("neutral", 5, 24.0, names).abs().max() == 0 and "surprise" in EXPRESSIONS
    with pytest.raises(ValueError, match="unknown expression"):
        expression_weights("wink", 5, 24.0, names)
    with pytest.raises(ValueError, match="no named face units"):
        expression_weights("smile", 5, 24.0, ())


def test_animation_with_a_talking_face(generator, anny, tmp_path):
    from genlca.data.video import read_video
    from genlca.generation.animate import animate, posed_frames, procedural_clip, with_expression

    [a] = generator.from_text(["a person in a green top"], opts(steps=3))
    walk = procedural_clip("walk", seconds=0.5, fps=8)
    talk = with_expression(walk, "talk", anny)
    assert talk.expression.shape == (4, 52) and talk.expression_name == "talk"
    outside = _body_outside_head(anny)
    plain = [v for _, v in posed_frames(a, walk, anny)]
    faced = [v for _, v in posed_frames(a, talk, anny)]
    for p, f in zip(plain, faced):
        assert float((f - p)[outside].abs().max()) < 1e-3
    jaw = [float((f - p).norm(dim=-1).max()) for p, f in zip(plain, faced)]
    assert max(jaw) > 0.005 and max(jaw) - min(jaw) > 0.003, jaw  # the mouth opens and closes
    r = animate(a, talk, tmp_path / "talk.mp4", anny, size=64, framing="face")
    assert r["intact"] and r["expression"] == "talk" and read_video(tmp_path / "talk.mp4").shape[0] == 4
    assert with_expression(walk, "neutral", anny).expression is None


def test_motion_transfer_from_a_fit_starts_at_the_origin(anny):
    from genlca.body.protocol import GENERIC_JOINTS
    from genlca.fitting.types import BodyFit
    from genlca.generation.animate import fit_clip

    F = 5
    root = torch.eye(4).repeat(F, 1, 1)
    root[:, 2, 3] = 3.0 + torch.arange(F)  # walking away from the camera
    fit = BodyFit(body_model="anny", shape=torch.zeros(len(anny.shape_labels)),
                  joint_rotations=torch.eye(3).repeat(F, len(GENERIC_JOINTS), 1, 1), root=root, K=torch.eye(3),
                  width=64, height=64, fitted=torch.tensor([False, True, True, False, True]),
                  reproj_error_px=torch.zeros(F), keypoint_confidence=torch.ones(F))
    clip = fit_clip(fit, "test")
    assert clip.frames == F
    assert torch.allclose(clip.root[1], torch.eye(4)) and torch.allclose(clip.root[0], torch.eye(4))
    assert torch.allclose(clip.root[3], clip.root[2])  # an unfitted frame holds the last fitted pose
    assert float(clip.root[4, 2, 3]) == pytest.approx(3.0)


def test_cli_generate_batch_edit_animate(checkpoint, tmp_path):
    from genlca.cli import app

    runner = CliRunner()
    ck = ["--checkpoint", str(checkpoint), "--steps", "4"]
    r = runner.invoke(app, ["generate", "--text", "a person in a red top", "--out", str(tmp_path / "a.ply"),
                            "--grid", str(tmp_path / "a.png"), "--size", "64", *ck])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.ply").stat().st_size > 0 and (tmp_path / "a.png").is_file()
    assert "generated in" in r.output

    (tmp_path / "prompts.txt").write_text("a person in a red top\n\na person in a green top\n")
    r = runner.invoke(app, ["generate", "--prompts", str(tmp_path / "prompts.txt"), "--out", str(tmp_path / "batch"),
                            "--size", "64", *ck])
    assert r.exit_code == 0, r.output
    listed = json.loads((tmp_path / "batch" / "prompts.json").read_text())
    assert [x["file"] for x in listed] == ["000.ply", "001.ply"]
    assert (tmp_path / "batch" / "contact_sheet.png").is_file()

    r = runner.invoke(app, ["edit", str(tmp_path / "a.ply"), "--region", "upper_body", "--text",
                            "a person in a green top", "--out", str(tmp_path / "e.ply"), "--grid",
                            str(tmp_path / "e.png"), "--size", "64", *ck])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "e.ply").is_file() and (tmp_path / "e.png").is_file()

    r = runner.invoke(app, ["animate", str(tmp_path / "e.ply"), "--motion", "walk", "--seconds", "0.25", "--fps", "8",
                            "--size", "64", "--out", str(tmp_path / "w.mp4")])
    assert r.exit_code == 0, r.output
    assert "intact" in r.output and (tmp_path / "w.mp4").is_file()
    r = runner.invoke(app, ["animate", str(tmp_path / "e.ply"), "--motion", "wave", "--expression", "smile",
                            "--framing", "face", "--seconds", "0.25", "--fps", "8", "--size", "64",
                            "--out", str(tmp_path / "s.mp4")])
    assert r.exit_code == 0, r.output
    assert "with a smile face" in r.output and (tmp_path / "s.mp4").is_file()
    r = runner.invoke(app, ["animate", str(tmp_path / "e.ply"), "--expression", "wink",
                            "--out", str(tmp_path / "x.mp4")])
    assert r.exit_code == 2 and "unknown expression 'wink'" in r.output, r.output

    # `genlca sample`: the same sampler behind the checkpoint's own command; a seed repeats its avatar.
    from genlca.tokenizer.tokens import load_tokens

    for name in ("s1", "s2"):
        r = runner.invoke(app, ["sample", str(checkpoint), "--tokens", str(tmp_path / f"{name}.safetensors"),
                                "--caption", "a person in a red top", "--steps", "4", "--seed", "3"])
        assert r.exit_code == 0, r.output
    one, two = (load_tokens(tmp_path / f"{n}.safetensors") for n in ("s1", "s2"))
    assert torch.equal(one.maps, two.maps) and one.meta["caption"] == "a person in a red top"


def test_cli_errors_name_the_problem(checkpoint, tmp_path):
    from genlca.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["generate", "--text", "x", "--out", str(tmp_path / "a.ply"), "--checkpoint",
                            str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and "not a trained GenLCA checkpoint" in r.output
    r = runner.invoke(app, ["edit", str(tmp_path / "missing.ply"), "--region", "head", "--text", "x", "--out",
                            str(tmp_path / "e.ply"), "--checkpoint", str(checkpoint)])
    assert r.exit_code == 2 and "missing.ply" in r.output
    r = runner.invoke(app, ["animate", str(tmp_path / "missing.ply"), "--out", str(tmp_path / "x.mp4")])
    assert r.exit_code == 2 and "missing.ply" in r.output


MESSI = Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg")  # Debian's opencv-doc


@pytest.mark.parametrize("photo", ["astronaut", "messi5"])
def test_image_to_avatar_on_real_photos(checkpoint, tmp_path, photo):
    """skimage's astronaut (waist up) and opencv-doc's messi5 (full body): detected, fitted, tokenized as a
    one-frame video, completed; the avatar keeps what the photo shows."""
    from PIL import Image
    from skimage import data as skimage_data

    from genlca.cli import app
    from genlca.generation.generator import load_avatar_tokens

    if photo == "astronaut":
        path = tmp_path / "astronaut.png"
        Image.fromarray(skimage_data.astronaut()).save(path)
    elif MESSI.is_file():
        path = MESSI
    else:
        pytest.skip(f"{MESSI} not installed (apt install opencv-doc)")
    r = CliRunner().invoke(app, ["generate", "--image", str(path), "--text", "a person", "--out",
                                 str(tmp_path / "avatar.ply"), "--checkpoint", str(checkpoint), "--steps", "3"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "avatar_fit" / f"{path.stem}_overlay.png").is_file()
    avatar = load_avatar_tokens(tmp_path / "avatar.ply")
    assert torch.isfinite(avatar.maps).all() and avatar.maps.abs().sum() > 0
    assert "it shows" in r.output  # the share of the body the photo shows is reported


def test_user_avatars_asset_generates_edits_and_animates(checkpoint, tmp_path):
    """The Dagster asset `make demo` ends with: its files exist and both checks pass on the two-tops model."""
    import shutil

    import dagster as dg

    from assets.generation_assets import user_avatars
    from orchestration.resources import ArtifactStore

    shutil.copytree(checkpoint, tmp_path / "models" / "genlca")
    config = {"prompt": "a person in a red top", "edit_prompt": "a person in a green top", "seconds": 0.5,
              "steps": 6, "size": 64, "expression": "smile"}
    result = dg.materialize([user_avatars], resources={"store": ArtifactStore(root=str(tmp_path))},
                            run_config={"ops": {"user_avatars": {"config": config}}})
    assert result.success
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"edit_keeps_the_rest": True, "animation_intact": True}
    md = result.asset_materializations_for_node("user_avatars")[0].metadata
    assert md["edit_color_change_inside"].value > 0.5  # red top -> green top
    out = tmp_path / "avatars" / "generated"
    for name in ("avatar.ply", "avatar.png", "edited.ply", "edit.png", "walk.mp4", "report.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "report.json").read_text())["animation"]["expression"] == "smile"
    bad = dg.materialize([user_avatars], resources={"store": ArtifactStore(root=str(tmp_path))},
                         run_config={"ops": {"user_avatars": {"config": config | {"expression": "wink"}}}},
                         raise_on_error=False)
    assert not bad.success
    failure = [e for e in bad.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "expression must be one of" in failure.event_specific_data.error.message


def test_image_to_avatar_evaluation_on_synthetic_photos(checkpoint, tmp_path, anny, layout32):
    """Two synthetic photos with ground truth at the checkpoint's R: the report scores the photo's own tokens and
    the completion on both sides; a drop of another resolution is refused with the fix named."""
    from genlca.data.synth import generate_drop
    from genlca.generation.image_eval import evaluate_image_to_avatar

    generate_drop(tmp_path / "photos", videos=2, frames=3, size=96, regime="full", seed=4, resolution=R)
    report = evaluate_image_to_avatar({"model": checkpoint}, tmp_path / "photos", opts=opts(steps=3), views=2,
                                      size=64)
    assert report["photos"] == 2 and set(report["summary"]) == {"photo_tokens", "model"}
    for row in report["per_photo"]:
        assert 0.05 < row["seen_share"] < 0.95  # one photo shows part of the body
        for side in ("visible_psnr_db", "unobserved_psnr_db"):
            assert 8 < row["model"][side] < 60 and 8 < row["photo_tokens"][side] < 60
        # The completion keeps what the photo shows (blended by visibility confidence).
        assert row["model"]["visible_psnr_db"] > row["photo_tokens"]["visible_psnr_db"] - 2.0
    assert report["verdict"] == {"model_visible_meets_goal": report["summary"]["model"]["visible_psnr_db"] >= 22}
    assert report["tokenizer"] == "unprojection"
    # With a refiner (here a few steps on the same photos), the photos' tokens are its output.
    from genlca.tokenizer.train import examples_from_drop, train_refiner

    train_refiner(examples_from_drop(tmp_path / "photos", anny, layout32, photos_per_video=1), [], tmp_path / "tok",
                  size="tiny", steps=2, batch_size=2, progress=False)
    refined = evaluate_image_to_avatar({"model": checkpoint}, tmp_path / "photos", opts=opts(steps=3), views=2,
                                       size=64, tokenizer=tmp_path / "tok")
    assert refined["tokenizer"] == str(tmp_path / "tok")
    assert [r["seen_share"] for r in refined["per_photo"]] == [r["seen_share"] for r in report["per_photo"]]
    assert refined["per_photo"][0]["photo_tokens"] != report["per_photo"][0]["photo_tokens"]
    generate_drop(tmp_path / "r16", videos=1, frames=2, size=64, regime="full", seed=4, resolution=16)
    with pytest.raises(ValueError, match="--resolution 32"):
        evaluate_image_to_avatar({"model": checkpoint}, tmp_path / "r16", opts=opts(steps=2), views=1, size=32)
